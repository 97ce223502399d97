"""Read-only questions other packages ask the journal (any process; never disturbs the writer).

Other packages go through these functions rather than their own SQL on the
compact tables (docs/sinks.md, "Retention"): the finest tier that still holds
a time range answers, so trends and dose sums keep working after retention
removed the raw rows.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import JournalError

from . import recovery, seek, times
from .aggregates import HOUR_MS, MAX_GAP_MS, MINUTE_MS
from .codec import measured_e
from .schema import SCHEMA_VERSION, SEQ_TABLES, STORED, connect, has_compact_rows, row_counts, schema_version

TIER_TABLES = {"raw": "sample_rows", "minute": "agg_minute", "hour": "agg_hour", "year": "dose_year"}


@contextmanager
def reader(path: str | Path) -> Iterator[sqlite3.Connection]:
    conn = connect(Path(path), readonly=True)
    try:
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {version} is newer than this radsurvey knows ({SCHEMA_VERSION})",
                source=str(path),
            )
        yield conn
    finally:
        conn.close()


has_aggregates = has_compact_rows


def _needs_compact(conn: sqlite3.Connection, path: str | Path) -> None:
    if not has_compact_rows(conn):
        raise JournalError(
            f"journal schema version {schema_version(conn)} has no aggregates yet: it is upgraded when the daemon"
            " next opens it, or now with `radsurvey journal migrate` (with the daemon stopped)",
            source=str(path),
        )


@contextmanager
def compact_reader(path: str | Path) -> Iterator[sqlite3.Connection]:
    with reader(path) as conn:
        _needs_compact(conn, path)
        yield conn


def stats(path: str | Path, *, sizes: bool = False) -> dict[str, Any]:
    """Row counts, first/last timestamps, size, schema version, the last run, the retention tiers and the rows
    earlier runs could not commit: each a lookup by key, whatever the journal's age.

    The tiers' ``bytes`` (SQLite's ``dbstat``, which reads every page) only with ``sizes``, else None. A journal
    up to ``recovery.FULL_CHECK_AT_OPEN_MAX_MB`` is checked in full first (``quick_check``), as the daemon
    does at open; a larger one only where these lookups read (``radsurvey journal check`` reads it all). Damage
    met on the way is the one line of :class:`~.recovery.JournalDamaged`, not a crash half-way.
    """
    path = Path(path)
    try:
        return _stats(path, sizes=sizes)
    except sqlite3.DatabaseError as err:
        if recovery.is_corrupt(err):
            raise recovery.damaged(path, str(err)) from None
        raise
    except (TypeError, ValueError):  # a damaged value where a number or a text is stored? Only the check can say
        with reader(path) as conn:
            recovery.check(conn, path)
        raise


def _stats(path: Path, *, sizes: bool) -> dict[str, Any]:
    with reader(path) as conn:
        if recovery.small_enough_to_check_at_open(path):
            recovery.check(conn, path)
        tables: dict[str, Any] = {}
        compact = has_compact_rows(conn)
        counts = row_counts(conn)  # kept by triggers (schema 8); an older journal's tables are counted
        for table in SEQ_TABLES:
            stored = STORED.get(table, table) if compact else table
            # First and last are rowid lookups (one MIN/MAX pair would scan the table).
            if counts is not None and stored in counts:
                count = counts[stored]
            else:
                count = conn.execute(f"SELECT COUNT(*) FROM {stored}").fetchone()[0]
            first_seq, last_seq = (conn.execute(f"SELECT {f}(seq) FROM {stored}").fetchone()[0] for f in ("MIN", "MAX"))
            first = last = None
            if first_seq is not None:
                first = conn.execute(f"SELECT ts FROM {table} WHERE seq = ?", (first_seq,)).fetchone()[0]
                last = conn.execute(f"SELECT ts FROM {table} WHERE seq = ?", (last_seq,)).fetchone()[0]
            tables[table] = {
                "rows": count,
                "first_ts": first,
                "last_ts": last,
                "first_seq": first_seq,
                "last_seq": last_seq,
            }
        last_run = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        runs = conn.execute("SELECT COUNT(*), SUM(clean) FROM runs").fetchone()
        cursors = {
            r["sink"]: {"seq": r["seq"], "updated_at": r["updated_at"]}
            for r in conn.execute("SELECT * FROM sink_cursors")
        }
        version = schema_version(conn)
        tier_info = _tiers(conn, sizes=sizes) if compact else {}
        gaps = uncommitted_rows(conn)
        steps = clock_steps(conn)
        pages = {
            key: int(conn.execute(f"PRAGMA {pragma}").fetchone()[0])
            for key, pragma in (
                ("page_size", "page_size"),
                ("page_count", "page_count"),
                ("free_pages", "freelist_count"),
            )
        }
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return {
        "path": str(path),
        "size_bytes": size,
        **pages,
        "schema_version": version,
        "tables": tables,
        "tiers": tier_info,
        "runs": {"count": runs[0], "clean": int(runs[1] or 0)},
        "last_run": dict(last_run) if last_run else None,
        "sink_cursors": cursors,
        "uncommitted": gaps,
        "clock_steps": steps,
    }


def clock_steps(conn: sqlite3.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The latest steps of the system clock the daemon saw, newest last (empty before schema 7)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'clock_steps'").fetchone() is None:
        return []
    rows = conn.execute(
        "SELECT ts, step_s, run FROM clock_steps WHERE id > (SELECT COALESCE(MAX(id), 0) FROM clock_steps) - ?"
        " ORDER BY id",
        (limit,),
    ).fetchall()
    return [{"ts": r[0], "step_s": r[1], "run": r[2]} for r in rows]


def uncommitted_rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Rows earlier runs could not commit (disk full), as the journal recorded them: count, seq range, spill
    file, how many were imported back (``not_in_journal`` = the rest)."""
    from .uncommitted import rows

    return rows(conn)


def _table_bytes(conn: sqlite3.Connection, table: str) -> int | None:
    try:
        row = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = ?", (table,)).fetchone()
    except sqlite3.Error:  # SQLite built without dbstat
        return None
    return int(row[0] or 0)


def _span(conn: sqlite3.Connection, tier: str, counts: dict[str, int] | None) -> tuple[int, Any, Any]:
    """A tier's rows, first and last time (first and last year for ``year``), each a lookup on a key."""
    table = TIER_TABLES[tier]
    if tier == "year":  # a row per channel and year
        n, first, last = conn.execute("SELECT COUNT(*), MIN(year), MAX(year) FROM dose_year").fetchone()
        return int(n), first, last
    n = counts[table] if counts is not None else conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
    if tier == "raw":
        first, last = (
            conn.execute(f"SELECT t FROM reading_rows WHERE seq = (SELECT {f}(seq) FROM reading_rows)").fetchone()
            for f in ("MIN", "MAX")
        )
        return int(n), None if first is None else first[0], None if last is None else last[0]
    # Per channel on the (channel, start_ms) key: a bucket's samples lie within it, so the latest bucket
    # holds the channel's latest sample (MIN(start_ms), MAX(last_ms) over the table would read all of it).
    firsts, lasts = [], []
    for (cid,) in conn.execute("SELECT id FROM channels").fetchall():
        row = conn.execute(
            f"SELECT (SELECT start_ms FROM {table} WHERE channel = ?1 ORDER BY start_ms LIMIT 1),"
            f" (SELECT last_ms FROM {table} WHERE channel = ?1 ORDER BY start_ms DESC LIMIT 1)",
            (cid,),
        ).fetchone()
        if row[0] is not None:
            firsts.append(row[0])
            lasts.append(row[1])
    return int(n), min(firsts, default=None), max(lasts, default=None)


def _tiers(conn: sqlite3.Connection, *, sizes: bool = True) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp() * 1000
    out: dict[str, Any] = {}
    counts = row_counts(conn)
    for tier in ("raw", "minute", "hour", "year"):
        n, first, last = _span(conn, tier, counts)
        tables = ["reading_rows", "sample_rows", "sample_extra"] if tier == "raw" else [TIER_TABLES[tier]]
        got = [_table_bytes(conn, t) for t in tables] if sizes else [None]
        info: dict[str, Any] = {"rows": n, "bytes": None if None in got else sum(s or 0 for s in got)}
        if tier == "year":
            info.update(first_year=first, last_year=last)
        else:
            info.update(
                first_ts=times.ms_to_text(first) if first is not None else None,
                last_ts=times.ms_to_text(last) if last is not None else None,
                oldest_age_days=round((now - first) / 86_400_000, 3) if first is not None else None,
            )
        out[tier] = info
    return out


def tiers(path: str | Path) -> dict[str, Any]:
    """Each retention tier's rows, bytes on disk and the age of its oldest data."""
    with compact_reader(path) as conn:
        return _tiers(conn)


def tail(path: str | Path, *, channel: str | None = None, n: int = 10) -> list[dict[str, Any]]:
    """The last ``n`` samples (optionally of one channel), oldest first."""
    with reader(path) as conn:
        if channel:
            rows = conn.execute(
                "SELECT * FROM samples WHERE channel = ? ORDER BY seq DESC LIMIT ?", (channel, n)
            ).fetchall()
        else:
            rows = conn.execute("SELECT * FROM samples ORDER BY seq DESC LIMIT ?", (n,)).fetchall()
    out = []
    for r in reversed(rows):
        d = dict(r)
        d["below_background"] = bool(d["below_background"])
        d["corrections"] = json.loads(d["corrections"])
        out.append(d)
    return out


def last_reading_times(conn: sqlite3.Connection, upto: int | None = None) -> dict[str, str]:
    """meter -> the time (ISO) of its latest reading with seq <= ``upto`` (all when None).

    Reads backwards from the newest row and stops once every meter the journal knows has been seen:
    no index is needed (nor a scan of the whole table) for meters that are read regularly.
    """
    if not has_compact_rows(conn):
        sql = (
            "SELECT meter, MAX(ts) FROM readings" + (" WHERE seq <= ?" if upto is not None else "") + " GROUP BY meter"
        )
        return {r[0]: r[1] for r in conn.execute(sql, () if upto is None else (upto,))}
    meter_of = {r[0]: r[1] for r in conn.execute("SELECT id, meter FROM reading_ctx")}
    wanted = set(meter_of.values())
    out: dict[str, int] = {}
    top = upto if upto is not None else (conn.execute("SELECT MAX(seq) FROM reading_rows").fetchone()[0] or 0)
    step = 4096
    while wanted - set(out) and top > 0:
        rows = conn.execute(
            "SELECT k, t FROM reading_rows WHERE seq <= ? AND seq > ? ORDER BY seq DESC", (top, top - step)
        ).fetchall()
        for k, t in rows:
            meter = meter_of.get(k)
            if meter is not None and (meter not in out or t > out[meter]):
                out[meter] = t
        if (
            not rows
            and conn.execute("SELECT 1 FROM reading_rows WHERE seq <= ? LIMIT 1", (top - step,)).fetchone() is None
        ):
            break
        top -= step
        step = min(step * 2, 1 << 20)
    return {m: times.ms_to_text(t) for m, t in out.items()}


# -- time ranges from the finest tier ---------------------------------------------------------


def _channel_id(conn: sqlite3.Connection, channel: str) -> int | None:
    row = conn.execute("SELECT id FROM channels WHERE name = ?", (channel,)).fetchone()
    return int(row[0]) if row else None


def raw_start_ms(conn: sqlite3.Connection) -> int | None:
    """The time of the oldest raw sample still stored (None when there is none)."""
    row = conn.execute(
        "SELECT COALESCE(x.t, r.t) FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r"
        " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE s.seq = (SELECT MIN(seq) FROM sample_rows)"
    ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _tier_start_ms(conn: sqlite3.Connection, tier: str, channel: int | None) -> int | None:
    if tier == "raw":
        return raw_start_ms(conn)
    # Per channel: the primary key (channel, start_ms) answers each; MIN(start_ms) of the table would scan it.
    ids = [channel] if channel is not None else [int(r[0]) for r in conn.execute("SELECT id FROM channels")]
    starts = [
        row[0]
        for cid in ids
        if (row := conn.execute(f"SELECT MIN(start_ms) FROM {TIER_TABLES[tier]} WHERE channel = ?", (cid,)).fetchone())
        and row[0] is not None
    ]
    return int(min(starts)) if starts else None


def finest_tier(conn: sqlite3.Connection, start_ms: int, channel: int | None = None) -> str:
    """raw, minute or hour: the finest tier that holds everything from ``start_ms`` on.

    A tier holds the range when its oldest data is not after ``start_ms``, or when retention has not
    shortened it yet (it reaches back to the first bucket of the next coarser tier).
    """
    raw = _tier_start_ms(conn, "raw", channel)
    minute = _tier_start_ms(conn, "minute", channel)
    hour = _tier_start_ms(conn, "hour", channel)
    if raw is not None and (raw <= start_ms or (minute is not None and raw < minute + MINUTE_MS)):
        return "raw"
    if minute is not None and (minute <= start_ms or (hour is not None and minute < hour + HOUR_MS)):
        return "minute"
    return "hour"


def first_sample_seq_at(conn: sqlite3.Connection, ts: str) -> int | None:
    """A seq from which ``samples WHERE seq >= it`` holds every sample with ts >= ``ts`` and few older ones.

    The reading seq at that time: a sample is appended right after its reading, with the reading's time.
    None when every reading is older.
    """
    return seek.seq_at(conn, times.text_to_ms(ts))


def net_rates_since(conn: sqlite3.Connection, channel: str, since: str) -> Iterator[tuple[str, float]]:
    """(ts, net_uGy_h) of the channel's samples from about ``since`` (journal time text) on, oldest first.

    From the reading seq at that time (:func:`first_sample_seq_at`): a few older samples may come first.
    """
    first = first_sample_seq_at(conn, since)
    if first is None:
        return
    for row in conn.execute(
        "SELECT ts, net_uGy_h FROM samples WHERE channel = ? AND seq >= ? ORDER BY seq", (channel, first)
    ):
        yield row["ts"], row["net_uGy_h"]


_RAW = (
    "SELECT COALESCE(x.t, r.t) AS t, c.e_factor, v.net_uGy_h, v.normalised_uGy_h, v.effective_uSv_h"
    " FROM samples v JOIN sample_rows s ON s.seq = v.seq JOIN sample_ctx c ON c.id = s.k"
    " LEFT JOIN reading_rows r ON r.seq = s.seq - s.r LEFT JOIN sample_extra x ON x.seq = s.seq"
    " WHERE v.channel = ? AND v.seq >= ? ORDER BY v.seq"
)


def _raw_samples(conn: sqlite3.Connection, channel: str, start_ms: int, end_ms: int) -> Iterator[tuple[int, float]]:
    """(t ms, E) of one channel's raw samples in seq order, from up to MAX_GAP_MS before ``start_ms`` (for Δt).

    E is the measured effective dose rate (codec.measured_e), as in the aggregates.
    """
    first = seek.seq_at(conn, start_ms - MAX_GAP_MS)
    if first is None:
        return
    for t, factor, net, nrm, e_normalised in conn.execute(_RAW, (channel, first)):
        e = measured_e(factor, net, nrm, e_normalised)
        if t >= end_ms:
            if t >= end_ms + MAX_GAP_MS:  # stamps may be a little out of order between meters
                break
            continue
        yield int(t), float(e)


def series(
    path: str | Path,
    channel: str,
    start: datetime | str | float,
    end: datetime | str | float,
    *,
    tier: str | None = None,
) -> dict[str, Any]:
    """E of one channel over [start, end) from the finest tier holding ``start`` (or ``tier``).

    Points: ``t`` (ISO, the sample's time or the bucket's start), ``n``, ``min``, ``mean``, ``max``
    (µSv/h), ``dose_uSv``, ``covered_s`` and ``alarm`` (buckets only).
    """
    start_ms, end_ms = times.to_ms(start), times.to_ms(end)
    with compact_reader(path) as conn:
        cid = _channel_id(conn, channel)
        chosen = tier or finest_tier(conn, start_ms, cid)
        points: list[dict[str, Any]] = []
        if cid is None:
            return {"channel": channel, "tier": chosen, "points": points}
        if chosen == "raw":
            prev = None
            for t, e in _raw_samples(conn, channel, start_ms, end_ms):
                dt = min(t - prev, MAX_GAP_MS) if prev is not None and t > prev else 0
                if prev is None or t > prev:
                    prev = t
                if t >= start_ms:
                    points.append(
                        {
                            "t": times.ms_to_text(t),
                            "n": 1,
                            "min": e,
                            "mean": e,
                            "max": e,
                            "dose_uSv": e * dt / HOUR_MS,
                            "covered_s": dt / 1000,
                        }
                    )
        else:
            table = TIER_TABLES[chosen]
            for r in conn.execute(
                f"SELECT start_ms, n, e_min, e_sum, e_max, dose_uSv, covered_ms, alarm FROM {table}"
                " WHERE channel = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms",
                (cid, _floor(start_ms, chosen), end_ms),
            ):
                points.append(
                    {
                        "t": times.ms_to_text(r[0]),
                        "n": r[1],
                        "min": r[2],
                        "mean": r[3] / r[1],
                        "max": r[4],
                        "dose_uSv": r[5],
                        "covered_s": r[6] / 1000,
                        "alarm": r[7],
                    }
                )
    return {"channel": channel, "tier": chosen, "points": points}


def _floor(ms: int, tier: str) -> int:
    size = MINUTE_MS if tier == "minute" else HOUR_MS
    return ms - ms % size


def aggregate_pieces(
    conn: sqlite3.Connection, channel: str, start_ms: int, end_ms: int
) -> tuple[list[tuple[int, int, float, int, float]], int | None, list[str]]:
    """The buckets that stand for [start, end) where the raw samples are gone.

    Hour buckets before the first minute bucket, then minute buckets up to and including the minute the
    raw samples start in. Returns ((last sample ms, covered ms, dose µSv, n, max E) per bucket in time
    order, ``until`` = the last sample time they hold or None when the raw samples reach back to
    ``start``, tiers used). Buckets are whole: the answer's resolution is a bucket.
    """
    cid = _channel_id(conn, channel)
    raw_from = raw_start_ms(conn)
    if cid is None or (raw_from is not None and raw_from <= start_ms):
        return [], None, []
    agg_end = end_ms if raw_from is None else min(end_ms, raw_from - raw_from % MINUTE_MS + MINUTE_MS)
    minute_from = _tier_start_ms(conn, "minute", cid)
    ranges = []
    if minute_from is None or minute_from > start_ms:
        # Hours wholly before the minute tier; the hour the minute tier starts in as well when retention
        # cut that tier inside it (its minutes no longer hold all of the hour's samples).
        hour_end = agg_end
        if minute_from is not None:
            first_hour = minute_from - minute_from % HOUR_MS
            in_hour = conn.execute("SELECT n FROM agg_hour WHERE channel = ? AND start_ms = ?", (cid, first_hour))
            hour_n = (in_hour.fetchone() or (0,))[0]
            minutes_n = conn.execute(
                "SELECT COALESCE(SUM(n), 0) FROM agg_minute WHERE channel = ? AND start_ms >= ? AND start_ms < ?",
                (cid, first_hour, first_hour + HOUR_MS),
            ).fetchone()[0]
            hour_end = min(agg_end, first_hour + HOUR_MS if hour_n > minutes_n else first_hour)
        ranges.append(("hour", start_ms, hour_end))
        start_ms = max(start_ms, hour_end)
    ranges.append(("minute", start_ms, agg_end))
    pieces: list[tuple[int, int, float, int, float]] = []
    parts: list[str] = []
    for tier, lo, hi in ranges:
        if lo >= hi:
            continue
        rows = conn.execute(
            f"SELECT last_ms, covered_ms, dose_uSv, n, e_max FROM {TIER_TABLES[tier]}"
            " WHERE channel = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms",
            (cid, _floor(lo, tier), hi),
        ).fetchall()
        if rows:
            pieces.extend((int(r[0]), int(r[1]), float(r[2]), int(r[3]), float(r[4])) for r in rows)
            parts.append(tier)
    until = max((p[0] for p in pieces), default=None)
    return pieces, until, parts


def aggregate_dose(
    conn: sqlite3.Connection, channel: str, start_ms: int, end_ms: int
) -> tuple[float, float, float | None, int | None, list[str]]:
    """(dose µSv, covered s, max E, ``until``, tiers used) of the buckets of ``aggregate_pieces``."""
    pieces, until, parts = aggregate_pieces(conn, channel, start_ms, end_ms)
    total = sum(p[2] for p in pieces)
    covered = sum(p[1] for p in pieces) / 1000
    e_max = max((p[4] for p in pieces), default=None)
    return total, covered, e_max, until, parts


def dose(path: str | Path, channel: str, start: datetime | str | float, end: datetime | str | float) -> dict[str, Any]:
    """Integrated dose (µSv), time covered and max E of one channel over [start, end).

    From the raw samples where they are still stored, else from the minute, then hour aggregates
    (whole buckets: the range is widened to the bucket edges, which is the answer's resolution).
    Each sample stands for the time since the channel's previous one, at most MAX_GAP_MS.
    """
    start_ms, end_ms = times.to_ms(start), times.to_ms(end)
    with compact_reader(path) as conn:
        total, covered, e_max, until, parts = aggregate_dose(conn, channel, start_ms, end_ms)
        cursor = start_ms if until is None else until + 1
        prev = until  # the last sample the aggregates hold is the previous one of the first raw sample
        used = False
        for t, e in _raw_samples(conn, channel, cursor, end_ms):
            dt = min(t - prev, MAX_GAP_MS) if prev is not None and t > prev else 0
            if prev is None or t > prev:
                prev = t
            if t >= cursor:
                total += e * dt / HOUR_MS
                covered += dt / 1000
                e_max = e if e_max is None else max(e_max, e)
                used = True
        if used:
            parts.append("raw")
    return {"channel": channel, "dose_uSv": total, "covered_s": covered, "max_uSv_h": e_max, "tiers": parts}


def dose_record(path: str | Path) -> list[dict[str, Any]]:
    """The yearly dose record of every channel: integral (µSv), hours measured, maximum E (µSv/h)."""
    with compact_reader(path) as conn:
        return [
            {
                "channel": r[0],
                "year": r[1],
                "dose_uSv": r[2],
                "hours_measured": r[3] / HOUR_MS,
                "max_uSv_h": r[4],
                "samples": r[5],
                "worst_alarm": r[6],
            }
            for r in conn.execute(
                "SELECT ch.name, y.year, y.dose_uSv, y.covered_ms, y.e_max, y.n, y.alarm FROM dose_year y"
                " JOIN channels ch ON ch.id = y.channel ORDER BY ch.name, y.year"
            )
        ]


EXPORT_COLUMNS = {
    "raw": [
        "ts",
        "channel",
        "meter",
        "seq",
        "value_uGy_h",
        "mean_uGy_h",
        "net_uGy_h",
        "effective_uSv_h",
        "limit_uSv_h",
        "ratio",
    ],
    "minute": ["ts", "channel", "n", "min_uSv_h", "mean_uSv_h", "max_uSv_h", "dose_uSv", "covered_s", "alarm"],
    "hour": ["ts", "channel", "n", "min_uSv_h", "mean_uSv_h", "max_uSv_h", "dose_uSv", "covered_s", "alarm"],
}


def export_rows(
    path: str | Path, start: datetime | str | float, end: datetime | str | float, *, tier: str | None = None
) -> tuple[str, list[str], Iterator[tuple[Any, ...]]]:
    """(tier, column names, rows) of every channel over [start, end) from the finest tier that holds it."""
    start_ms, end_ms = times.to_ms(start), times.to_ms(end)
    conn = connect(Path(path), readonly=True)
    try:
        _needs_compact(conn, path)
    except JournalError:
        conn.close()
        raise
    chosen = tier or finest_tier(conn, start_ms)
    cols = EXPORT_COLUMNS[chosen]

    def rows() -> Iterator[tuple[Any, ...]]:
        try:
            if chosen == "raw":
                first = seek.seq_at(conn, start_ms)
                if first is None:
                    return
                for r in conn.execute(
                    "SELECT v.ts, v.channel, v.meter, v.seq, v.value_uGy_h, v.mean_uGy_h, v.net_uGy_h,"
                    " v.effective_uSv_h, v.limit_uSv_h, v.ratio, COALESCE(x.t, r.t) FROM samples v"
                    " JOIN sample_rows s ON s.seq = v.seq LEFT JOIN reading_rows r ON r.seq = s.seq - s.r"
                    " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE v.seq >= ? ORDER BY v.seq",
                    (first,),
                ):
                    if r[10] >= end_ms:
                        if r[10] >= end_ms + MAX_GAP_MS:
                            break
                        continue
                    if r[10] >= start_ms:
                        yield tuple(r[:10])
            else:
                # One primary-key range per channel, merged by (time, channel name): the key is (channel,
                # start_ms), so a range of start_ms over all channels at once would scan the table.
                sql = (
                    "SELECT start_ms, ?, n, e_min, e_sum, e_max, dose_uSv, covered_ms, alarm"
                    f" FROM {TIER_TABLES[chosen]}"
                    " WHERE channel = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms"
                )
                lo = _floor(start_ms, chosen)
                per_channel = [
                    conn.execute(sql, (name, cid, lo, end_ms))
                    for cid, name in conn.execute("SELECT id, name FROM channels ORDER BY name").fetchall()
                ]
                for r in heapq.merge(*per_channel, key=lambda r: (r[0], r[1])):
                    yield (times.ms_to_text(r[0]), r[1], r[2], r[3], r[4] / r[2], r[5], r[6], r[7] / 1000, r[8])
        finally:
            conn.close()

    return chosen, cols, rows()


# -- what the status commands show ---------------------------------------------------------------


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the journal has a table or view of that name (older schemas lack some)."""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?", (name,))
    return found.fetchone() is not None


def last_run(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The latest run: started_at, stopped_at (None while it runs or when it did not stop cleanly), clean, pid."""
    row = conn.execute("SELECT started_at, stopped_at, clean, pid FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def latest_sample(conn: sqlite3.Connection, channel: str) -> dict[str, Any] | None:
    """The newest sample of ``channel`` with the views' columns (None when it has none)."""
    row = conn.execute("SELECT * FROM samples WHERE channel = ? ORDER BY seq DESC LIMIT 1", (channel,)).fetchone()
    return None if row is None else dict(row)


def latest_meter_events(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """meter -> its newest meter event (meter, state, reason, ts, detail, seq)."""
    rows = conn.execute(
        "SELECT seq, meter, state, reason, ts, detail FROM meter_events WHERE seq IN "
        "(SELECT MAX(seq) FROM meter_events GROUP BY meter)"
    )
    return {r["meter"]: dict(r) for r in rows}
