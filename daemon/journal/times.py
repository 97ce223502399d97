"""The journal's time format, written once.

Stored rows hold integer UTC milliseconds (``reading_rows.t``, the aggregates'
``start_ms``/``last_ms``); every time the journal shows as text (the views,
``ts`` of events, ``runs``, ``sink_cursors``, JSON answers) is ISO 8601 UTC
with milliseconds and ``Z``: ``2026-12-04T23:50:42.123Z``. Text of that form
sorts as its time does, which is why event tables can compare ``ts`` as text.

Input is more lenient (:func:`parse`): any ISO 8601 text, ``Z`` or an offset;
naive text means UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def parse(text: str) -> datetime:
    """ISO 8601 (``Z`` or an offset; naive means UTC) -> aware UTC datetime; ValueError if not a time."""
    t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def text(t: datetime) -> str:
    """A datetime as the journal writes times (UTC, milliseconds, ``Z``); naive means UTC."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_text() -> str:
    """The time now as the journal writes it."""
    return text(datetime.now(UTC))


def text_to_ms(value: str) -> int:
    """Journal (or any ISO 8601) time text -> integer UTC milliseconds, exact (no float on the way)."""
    delta = parse(value) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def ms_to_datetime(ms: int) -> datetime:
    """Integer UTC milliseconds -> aware UTC datetime, exact."""
    return _EPOCH + timedelta(milliseconds=ms)


def ms_to_text(ms: int) -> str:
    """Integer UTC milliseconds -> the journal's text (what the views give, and what 0.1 stored)."""
    return text(ms_to_datetime(ms))


def datetime_to_ms(t: datetime) -> int:
    """An aware (or naive = UTC) datetime -> integer UTC milliseconds, exact to the millisecond below."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def to_ms(when: datetime | str | float) -> int:
    """UTC milliseconds of a datetime, an ISO 8601 text or epoch seconds."""
    if isinstance(when, str):
        return text_to_ms(when)
    if isinstance(when, datetime):
        return datetime_to_ms(when)
    return round(float(when) * 1000)


# The same format in SQL, for the views (0.1's text columns) and the migration from 0.1's text.
def text_sql(ms_column: str) -> str:
    """SQL giving the journal's text of an integer-milliseconds column."""
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', {ms_column} / 1000.0, 'unixepoch')"


def ms_sql(text_column: str) -> str:
    """SQL giving integer milliseconds of a column holding the journal's text."""
    return (
        f"(CAST(strftime('%s', {text_column}) AS INTEGER) * 1000"
        f" + CAST(substr(strftime('%f', {text_column}), 4) AS INTEGER))"
    )


def seconds_text(t: float) -> str:
    """POSIX seconds as the journal writes times."""
    return text(datetime.fromtimestamp(t, UTC))


def text_seconds(value: str) -> float:
    """Journal (or any ISO 8601) time text -> POSIX seconds."""
    return parse(value).timestamp()
