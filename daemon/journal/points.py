"""Readings and samples as the sinks publish them: compact rows, read past the views.

The ``readings`` and ``samples`` views rebuild the views' columns for every row
(ISO time text, context columns joined in, JSON text); a sink that turns rows
into line protocol or JSON needs none of that per row. These reads give plain
tuples with the context id and only what changes from row to row (the TSDB
sink's time already in its nanoseconds, the MQTT sink's as the views' text),
and :func:`reading_contexts` / :func:`sample_contexts` (TSDB) and
:func:`reading_message_contexts` / :func:`sample_message_contexts` (MQTT) give
what the ids stand for (a context never changes once written, so a reader
caches them by id).

Every derived value (net, below background, E, ratio) is the view's own SQL
expression, so a value read here is bit for bit the one the view gives.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .schema import _NET, E_SQL, iso_sql

# seq > ? AND seq <= ? ... LIMIT ?: the feed's page bounds (daemon/sinks/base.py, JournalFeed).
# ns = the row's millisecond time * 10^6 + seq % 10^6 (payloads.ts_ns: replayed rows are the same point).
# The columns are what a line's template takes, in its order (payloads.CompactLines): first the
# template's key, then the fields as the line protocol has them, the timestamp last.
READINGS_SQL = (
    "SELECT k, v, seq, t * 1000000 + seq % 1000000 FROM reading_rows WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
# A sample's key tells its template whether it has a normalised value (the field is left out
# when it has none: its column is then 0.0, which that template skips).


def _samples_sql(extra: bool) -> str:
    """The samples' read; without ``extra``, for rows none of which has a ``sample_extra`` row.

    ``sample_extra`` holds the few values that the expressions would not give
    back identically; a LEFT JOIN of it adds NULLs to every other row, which
    COALESCE passes over, so leaving it out of such a page reads the same
    values without a look-up per row.
    """

    def stored(column: str, expression: str) -> str:
        return f"COALESCE(x.{column}, {expression})" if extra else expression

    return (
        f"SELECT s.k * 2 + (s.nrm IS NULL), COALESCE(s.v, r.v), COALESCE(s.m, s.v, r.v), {stored('net', _NET)},"
        f" COALESCE(s.nrm, 0.0), {E_SQL}, {stored('ratio', f'{E_SQL} / c.limit_uSv_h')},"
        f" {stored('below', 'COALESCE(s.m, s.v, r.v) - c.background_uGy_h < 0')}, s.n, s.seq, s.seq - s.r,"
        f" {stored('t', 'r.t')} * 1000000 + s.seq % 1000000"
        " FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r JOIN sample_ctx c ON c.id = s.k"
        + (" LEFT JOIN sample_extra x ON x.seq = s.seq" if extra else "")
        + " WHERE s.seq > ? AND s.seq <= ? ORDER BY s.seq LIMIT ?"
    )


SAMPLES_SQL = _samples_sql(extra=True)
SAMPLES_PLAIN_SQL = _samples_sql(extra=False)
# Column positions (the sample's background and limit are its context's, in the template).
R_KEY, R_VALUE, R_SEQ, R_NS = range(4)
S_KEY, S_VALUE, S_MEAN, S_NET, S_NRM, S_E, S_RATIO, S_BELOW, S_N, S_SEQ, S_READING_SEQ, S_NS = range(12)


def sample_key(context_id: int, has_normalised: bool) -> int:
    """The key ``SAMPLES_SQL`` gives a sample of this context (its template's)."""
    return context_id * 2 + (not has_normalised)


# The MQTT sink's JSON (payloads.reading_payload / sample_payload, in their key order): the row's seq twice (the
# feed's key, then the payload's first value), then the values that change from row to row, the views' own SQL.
# ``below_background`` as the JSON it becomes; ``meter_value`` is COALESCE(mv, v) for every row, and a context
# without meter values (``has_meter_value`` 0) publishes null instead.
READING_MESSAGES_SQL = (
    f"SELECT seq, k, seq, {iso_sql('t')}, v, COALESCE(mv, v) FROM reading_rows"
    " WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
SAMPLE_MESSAGES_SQL = (
    f"SELECT s.seq, s.k, s.seq, {iso_sql('COALESCE(x.t, r.t)')}, s.seq - s.r, COALESCE(s.v, r.v),"
    f" COALESCE(s.m, s.v, r.v), s.n, COALESCE(x.net, {_NET}),"
    " CASE WHEN COALESCE(x.below, COALESCE(s.m, s.v, r.v) - c.background_uGy_h < 0) THEN 'true' ELSE 'false' END,"
    f" s.nrm, {E_SQL}, COALESCE(x.ratio, {E_SQL} / c.limit_uSv_h)"
    " FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r JOIN sample_ctx c ON c.id = s.k"
    " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE s.seq > ? AND s.seq <= ? ORDER BY s.seq LIMIT ?"
)
MR_SEQ, MR_K, MR_SEQ_FIELD, MR_TS, MR_VALUE, MR_METER_VALUE = range(6)
(
    MS_SEQ, MS_K, MS_SEQ_FIELD, MS_TS, MS_READING_SEQ, MS_VALUE, MS_MEAN, MS_N, MS_NET, MS_BELOW, MS_NRM, MS_E,
    MS_RATIO,
) = range(13)  # fmt: skip


def reading_message_contexts(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Reading context id -> the ``readings`` view's columns it stands for, and ``has_meter_value``."""
    cursor = conn.execute("SELECT id, meter, unit, quantity, status, conversions, has_meter_value FROM reading_ctx")
    names = [d[0] for d in cursor.description]
    return {int(r[0]): dict(zip(names[1:], tuple(r)[1:], strict=True)) for r in cursor}


def sample_message_contexts(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Sample context id -> the ``samples`` view's columns it stands for."""
    cursor = conn.execute(
        "SELECT c.id, ch.name AS channel, c.meter, c.room_category, c.background_uGy_h, c.limit_uSv_h, c.formula,"
        " c.corrections FROM sample_ctx c JOIN channels ch ON ch.id = c.channel"
    )
    names = [d[0] for d in cursor.description]
    return {int(r[0]): dict(zip(names[1:], tuple(r)[1:], strict=True)) for r in cursor}


def reading_contexts(conn: sqlite3.Connection) -> dict[int, tuple[str, str]]:
    """Reading context id -> (meter, unit)."""
    return {int(r[0]): (str(r[1]), str(r[2])) for r in conn.execute("SELECT id, meter, unit FROM reading_ctx")}


def sample_contexts(conn: sqlite3.Connection) -> dict[int, tuple[str, str, int, float, float]]:
    """Sample context id -> (channel, meter, room category, background in µGy/h, limit in µSv/h)."""
    rows: list[Any] = conn.execute(
        "SELECT c.id, ch.name, c.meter, c.room_category, c.background_uGy_h, c.limit_uSv_h"
        " FROM sample_ctx c JOIN channels ch ON ch.id = c.channel"
    ).fetchall()
    return {int(r[0]): (str(r[1]), str(r[2]), r[3], r[4], r[5]) for r in rows}
