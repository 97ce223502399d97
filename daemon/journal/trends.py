"""Trends of a channel in time buckets, and its samples over a range (the web console's trend page and CSV).

Kept apart from the journal's writer and schema so that each view is one
function over a read-only connection. A time range becomes a seq range
by the journal's one bisection (journal/seek.py), and :func:`trend` reads buckets of a
minute or more from the journal's minute/hour aggregates (up to what they hold
on disk, the raw samples after that), narrower ones from the raw samples; E is
then the effective dose rate from the measured net rate (formula 4), as the
aggregates and the alarms have it (daemon/journal/README.md).

Times in the journal are ISO 8601 UTC text with milliseconds and ``Z``
(journal/times.py); ``seq`` grows with time. A bucket is also named by the
prefix of that text (19 characters is a second, 18 ten seconds, 16 a minute, 15
ten minutes, 13 an hour, 10 a day).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import seek, times
from .schema import MEASURED_E_SQL

# (bucket width in seconds, length of the ts prefix that names the bucket)
BUCKETS: tuple[tuple[int, int], ...] = ((1, 19), (10, 18), (60, 16), (600, 15), (3600, 13), (86400, 10))
MAX_POINTS = 2000


def bucket_for(span_s: float, max_points: int = MAX_POINTS) -> tuple[int, int]:
    """The narrowest bucket that keeps ``span_s`` within ``max_points`` buckets."""
    for width, prefix in BUCKETS:
        if span_s / width <= max_points:
            return width, prefix
    return BUCKETS[-1]


def _split(conn: sqlite3.Connection, t: datetime) -> int:
    """The seq that splits the samples at ``t`` (the journal's one bisection, journal/seek.py)."""
    return seek.seq_split(conn, times.datetime_to_ms(t), "samples")


@dataclass(frozen=True)
class Trend:
    channel: str
    start: str
    end: str
    bucket_s: int
    # one row per bucket that holds samples: (bucket start, n, min, mean, max) of E in uSv/h
    buckets: list[tuple[str, int, float, float, float]]
    limit_uSv_h: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "start": self.start,
            "end": self.end,
            "bucket_s": self.bucket_s,
            "limit_uSv_h": self.limit_uSv_h,
            "columns": ["t", "n", "min_uSv_h", "mean_uSv_h", "max_uSv_h"],
            "buckets": [list(b) for b in self.buckets],
        }


def floor_to(t: datetime, width_s: int) -> datetime:
    """The start of the bucket of ``width_s`` holding ``t`` (buckets are aligned to UTC midnight)."""
    return datetime.fromtimestamp(t.timestamp() // width_s * width_s, UTC)


def trend(
    conn: sqlite3.Connection,
    channel: str,
    start: datetime,
    end: datetime,
    *,
    max_points: int = MAX_POINTS,
    bucket_s: int | None = None,
) -> Trend:
    """E of ``channel`` in time buckets: count, min, mean, max per bucket that holds samples.

    The range is [start, end) with ``start`` moved back to the start of its bucket, so
    that every bucket is whole; the bucket is the narrowest of :data:`BUCKETS` that keeps
    the range within ``max_points``, or ``bucket_s`` when given.
    """
    if bucket_s is None:
        width, _ = bucket_for((end - start).total_seconds(), max_points)
    else:
        width, _ = next(b for b in BUCKETS if b[0] == bucket_s)
    start = floor_to(start, width)
    start_s, end_s = times.text(start), times.text(end)
    first, past = _split(conn, start), _split(conn, end)
    buckets = _buckets(conn, channel, start, end, width, first, past)
    limit = conn.execute(
        "SELECT limit_uSv_h FROM samples WHERE channel = ? AND seq < ? ORDER BY seq DESC LIMIT 1", (channel, past)
    ).fetchone()
    return Trend(
        channel=channel,
        start=start_s,
        end=end_s,
        bucket_s=width,
        buckets=buckets,
        limit_uSv_h=None if limit is None else float(limit[0]),
    )


def _buckets(
    conn: sqlite3.Connection, channel: str, start: datetime, end: datetime, width: int, first: int, past: int
) -> list[tuple[str, int, float, float, float]]:
    """(bucket start, n, min, mean, max) of measured E: aggregates for whole minutes on disk, raw samples after."""
    w_ms = width * 1000
    start_ms, end_ms = round(start.timestamp() * 1000), round(end.timestamp() * 1000)
    cid_row = conn.execute("SELECT id FROM channels WHERE name = ?", (channel,)).fetchone()
    if cid_row is None:
        return []
    cid = int(cid_row[0])
    out: dict[int, list[float]] = {}  # bucket -> [n, min, sum, max]
    split = start_ms
    raw_first = first
    if width >= 60:
        # Aggregates hold every sample up to agg_meta.seq; the minute that holds that sample's time, and
        # everything after it, comes from the raw samples.
        meta = conn.execute("SELECT seq FROM agg_meta WHERE id = 1").fetchone()
        hz = _sample_time(conn, int(meta[0])) if meta else None
        if hz is not None:
            # Whole minutes only, up to the horizon's minute and to the last minute that ends by ``end`` (an
            # aggregate that holds ``end`` also holds samples after it); the raw samples give the rest.
            split = max(start_ms, min(end_ms - end_ms % 60_000, hz - hz % 60_000))
            if width >= 3600:  # whole hours from the hour tier, the minutes of the last hour from the minute tier
                hour_split = max(start_ms, split - split % 3_600_000)
                ranges = [("agg_hour", start_ms, hour_split), ("agg_minute", hour_split, split)]
            else:  # minutes where kept; whole hours before the first minute retention kept
                first_minute = _first_start(conn, "agg_minute", cid, split)
                ranges = [
                    ("agg_minute", start_ms, split),
                    ("agg_hour", start_ms, min(split, first_minute - first_minute % 3_600_000)),
                ]
            for tier, lo, hi in ranges:
                if lo >= hi:
                    continue
                for b, n, e_min, e_sum, e_max in conn.execute(
                    f"SELECT start_ms / ?, SUM(n), MIN(e_min), SUM(e_sum), MAX(e_max) FROM {tier}"
                    " WHERE channel = ? AND start_ms >= ? AND start_ms < ? GROUP BY 1",
                    (w_ms, cid, lo, hi),
                ):
                    _merge(out, int(b), n, e_min, e_sum, e_max)
            raw_first = seek.seq_split(conn, split, "samples")
    for b, n, e_min, e_sum, e_max in conn.execute(
        f"SELECT t / ?, COUNT(*), MIN(e), SUM(e), MAX(e) FROM (SELECT COALESCE(x.t, r.t) AS t, {MEASURED_E_SQL} AS e"
        " FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r JOIN sample_ctx c ON c.id = s.k"
        " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE c.channel = ? AND s.seq >= ? AND s.seq < ?)"
        " WHERE t >= ? AND t < ? GROUP BY 1",
        (w_ms, cid, raw_first, past, split, end_ms),
    ):
        _merge(out, int(b), n, e_min, e_sum, e_max)
    return [
        (times.ms_to_text(b * w_ms), int(v[0]), float(v[1]), float(v[2] / v[0]), float(v[3]))
        for b, v in sorted(out.items())
    ]


def _merge(out: dict[int, list[float]], b: int, n: int, e_min: float, e_sum: float, e_max: float) -> None:
    v = out.get(b)
    if v is None:
        out[b] = [n, e_min, e_sum, e_max]
    else:
        v[0] += n
        v[1] = min(v[1], e_min)
        v[2] += e_sum
        v[3] = max(v[3], e_max)


def _sample_time(conn: sqlite3.Connection, seq: int) -> int | None:
    row = conn.execute(
        "SELECT s.seq, COALESCE(x.t, r.t) FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r"
        " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE s.seq <= ? ORDER BY s.seq DESC LIMIT 1",
        (seq,),
    ).fetchone()
    return None if row is None else int(row[1])


def _first_start(conn: sqlite3.Connection, table: str, cid: int, default: int) -> int:
    row = conn.execute(f"SELECT MIN(start_ms) FROM {table} WHERE channel = ?", (cid,)).fetchone()
    return int(row[0]) if row and row[0] is not None else default


def samples_between(conn: sqlite3.Connection, channel: str, start: datetime, end: datetime) -> sqlite3.Cursor:
    """Every sample of ``channel`` in [start, end), oldest first (for a CSV download)."""
    first, past = _split(conn, start), _split(conn, end)
    return conn.execute(
        "SELECT seq, ts, channel, meter, value_uGy_h, mean_uGy_h, net_uGy_h, below_background, normalised_uGy_h,"
        " effective_uSv_h, limit_uSv_h, ratio, formula FROM samples WHERE channel = ? AND seq >= ? AND seq < ?"
        " ORDER BY seq",
        (channel, first, past),
    )


SAMPLE_CSV_COLUMNS = (
    "seq",
    "ts",
    "channel",
    "meter",
    "value_uGy_h",
    "mean_uGy_h",
    "net_uGy_h",
    "below_background",
    "normalised_uGy_h",
    "effective_uSv_h",
    "limit_uSv_h",
    "ratio",
    "formula",
)


def range_ending(end: datetime, name: str) -> tuple[datetime, datetime]:
    """[end - span, end) for a named range: 1h, 24h, 7d."""
    spans = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
    if name not in spans:
        raise ValueError(f"unknown range {name!r}; use one of {', '.join(spans)} or from/to")
    return end - spans[name], end
