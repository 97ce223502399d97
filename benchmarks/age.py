"""Journal age: what each hot-path operation costs on a journal of 1, 30 (and 365) days, 8 meters x 1 Hz.

    .venv/bin/python benchmarks/age.py [--days 1,30] [--repeat 3] [--out benchmarks/age-results.json]

How a journal is built: one hour (8 meters x 3 600 readings and samples) goes through the real writer
(``Journal.append``: the codec, the aggregates, the commit); every later hour is that hour's stored rows
copied by SQL with seqs and times shifted (``reading_rows``, ``sample_rows``, ``sample_extra``,
``agg_minute``, ``agg_hour``), so the file holds what the writer would have stored hour after hour, and the
journal's triggers count the copies. The newest hour ends at the time of the build.

Measured at each age, min / median of ``--repeat`` runs, and as a ratio to the 1-day journal (flat = 1.0):

* commit: one commit of 8 readings + 8 samples through the writer (median of 20 per run)
* retention: one pass in a writer transaction (rolled back), raw tier older than the oldest hour
* open: ``Journal(path)`` (the check at open: in full up to ``FULL_CHECK_AT_OPEN_MAX_MB``, else bounded; migrations
  check, aggregates, max seq, the run row) and close
* background_check: the full ``quick_check`` the daemon runs after start (``Journal.start_background_check``,
  its own thread and connection) while the journal is open for writing: its duration
* restore: the alarms' restore of an 8 h window for one channel (``measured_history``)
* first page: a sink's first page (500 rows) after a cursor 100 seqs below the top
* stats: ``queries.stats`` (what ``radsurvey journal stats`` prints); stats_sizes: with ``--sizes`` (``dbstat``);
  and ``quick_check`` (``radsurvey journal check``) and ``dbstat`` alone
* export: one day's raw rows of every channel (``queries.export_rows``, consumed)
* trend: 7 days of one channel in 1 h buckets (``trends.trend``)

Not part of the test run; see benchmarks/README.md ("Journal age").
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radsurvey.daemon.alarms.service import measured_history  # noqa: E402
from radsurvey.daemon.journal import Journal, connect, queries, trends  # noqa: E402
from radsurvey.daemon.journal.feed import JournalFeed  # noqa: E402
from radsurvey.daemon.journal.retention import RetentionPlan, apply_retention  # noqa: E402
from radsurvey.daemon.journal.schema import fold_counts  # noqa: E402
from tests.unit.daemon.test_journal_compact import reading_row, sample_row  # noqa: E402

METERS = 8
HOUR_MS = 3_600_000


def build(path: Path, days: int, end: datetime) -> dict[str, Any]:
    """A journal of ``days`` days ending at ``end`` (see the module's docstring); the build's own figures."""
    t0 = time.perf_counter()
    start = end - timedelta(days=days)
    with Journal(path, commit_interval_s=0.2, batch_size=20_000) as j:
        for s in range(3600):
            t = start + timedelta(seconds=s)
            for m in range(METERS):
                value = round(0.2 + ((s * 7 + m * 13) % 17) * 0.003, 6)
                ch = f"ch{m}"
                rseq = j.append("readings", reading_row(t + timedelta(milliseconds=7 * m), f"m{ch}", value))
                j.append(
                    "samples", sample_row(t + timedelta(milliseconds=7 * m), ch, rseq, value, value, 0.05, None, 2.5)
                )
    written = time.perf_counter() - t0
    conn = connect(path)
    try:
        lo = conn.execute("SELECT MIN(seq) FROM reading_rows").fetchone()[0]
        hi = conn.execute("SELECT MAX(seq) FROM sample_rows").fetchone()[0]
        span = hi - lo + 1
        for h in range(1, days * 24):
            ds, dt = h * span, h * HOUR_MS
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO reading_rows SELECT seq + ?, t + ?, k, v, mv, raw FROM reading_rows"
                " WHERE seq BETWEEN ? AND ?",
                (ds, dt, lo, hi),
            )
            conn.execute(
                "INSERT INTO sample_rows SELECT seq + ?, r, k, v, m, n, nrm, e FROM sample_rows"
                " WHERE seq BETWEEN ? AND ?",
                (ds, lo, hi),
            )
            conn.execute(
                "INSERT INTO sample_extra SELECT seq + ?, t + ?, net, below, ratio FROM sample_extra"
                " WHERE seq BETWEEN ? AND ?",
                (ds, dt, lo, hi),
            )
            for table in ("agg_minute", "agg_hour"):
                cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
                shifted = ", ".join(f"{c} + {dt}" if c in ("start_ms", "last_ms") else c for c in cols)
                conn.execute(
                    f"INSERT INTO {table} SELECT {shifted} FROM {table} WHERE start_ms >= ? AND start_ms < ?",
                    (int(start.timestamp() * 1000), int(start.timestamp() * 1000) + HOUR_MS),
                )
            conn.execute("COMMIT")
        top = conn.execute("SELECT MAX(seq) FROM sample_rows").fetchone()[0]
        conn.execute("UPDATE agg_meta SET seq = ?", (top,))
        fold_counts(conn)  # as the writer does once a minute: the copies counted up to the top
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = conn.execute("SELECT SUM(n) FROM row_counts WHERE name IN ('reading_rows', 'sample_rows')").fetchone()[0]
    finally:
        conn.close()
    return {
        "days": days,
        "rows": rows,
        "bytes": path.stat().st_size,
        "first_hour_through_writer_s": round(written, 1),
        "build_s": round(time.perf_counter() - t0, 1),
    }


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def commit_s(path: Path, end: datetime) -> float:
    with Journal(path, commit_interval_s=0.001, batch_size=5000) as j:
        times_s = []
        for i in range(21):
            t = end + timedelta(seconds=i)
            t0 = time.perf_counter()
            for m in range(METERS):
                rseq = j.append("readings", reading_row(t, f"mch{m}", 0.2))
                j.append("samples", sample_row(t, f"ch{m}", rseq, 0.2, 0.2, 0.05, None, 2.5))
            j.flush()
            times_s.append(time.perf_counter() - t0)
    return statistics.median(times_s[1:])


def retention_s(path: Path, start: datetime) -> float:
    plan = RetentionPlan(upto=1 << 62, raw_before=start, minute_before=start, hour_before=start, events_before=start)
    conn = connect(path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        t = timed(lambda: apply_retention(conn, plan))
        conn.execute("ROLLBACK")
        return t
    finally:
        conn.close()


def open_s(path: Path) -> float:
    return timed(lambda: Journal(path).close())


def background_check_s(path: Path) -> float:
    with Journal(path) as j:
        j.start_background_check()
        check = j.background_check
        if check is None:  # a journal small enough was checked in full at open
            return 0.0
        assert check.join(3600) and check.verdict == "ok", check.verdict
        assert check.seconds is not None
        return check.seconds


def restore_s(path: Path, end: datetime) -> float:
    conn = connect(path, readonly=True)
    try:
        since = (end - timedelta(hours=8)).timestamp()
        return timed(lambda: sum(1 for _ in measured_history(conn, "ch0", since)))
    finally:
        conn.close()


def first_page_s(path: Path) -> float:
    def run() -> None:
        feed = JournalFeed(path, ["readings", "samples"])
        try:
            top = feed_top(path)
            assert feed.read_page(top - 100, 500) is not None
        finally:
            close = getattr(feed, "close", None)
            if close:
                close()

    return timed(run)


def feed_top(path: Path) -> int:
    conn = connect(path, readonly=True)
    try:
        return int(conn.execute("SELECT MAX(seq) FROM sample_rows").fetchone()[0])
    finally:
        conn.close()


def pragma_s(path: Path, sql: str) -> float:
    conn = connect(path, readonly=True)
    try:
        return timed(lambda: conn.execute(sql).fetchall())
    finally:
        conn.close()


def export_s(path: Path, end: datetime) -> float:
    def run() -> None:
        _, _, rows = queries.export_rows(path, end - timedelta(days=1, hours=1), end - timedelta(hours=1), tier="raw")
        assert sum(1 for _ in rows) > 0

    return timed(run)


def trend_s(path: Path, end: datetime) -> float:
    conn = connect(path, readonly=True)
    try:
        return timed(lambda: trends.trend(conn, "ch0", end - timedelta(days=7), end, bucket_s=3600))
    finally:
        conn.close()


def measure(path: Path, end: datetime, days: int, repeat: int) -> dict[str, dict[str, float]]:
    start = end - timedelta(days=days)
    ops: dict[str, Callable[[], float]] = {
        "commit": lambda: commit_s(path, end),
        "retention": lambda: retention_s(path, start + timedelta(hours=1)),
        "open": lambda: open_s(path),
        "restore": lambda: restore_s(path, end),
        "first_page": lambda: first_page_s(path),
        "background_check": lambda: background_check_s(path),
        "stats": lambda: timed(lambda: queries.stats(path)),
        "stats_sizes": lambda: timed(lambda: queries.stats(path, sizes=True)),
        "quick_check": lambda: pragma_s(path, "PRAGMA quick_check(5)"),
        "dbstat": lambda: pragma_s(path, "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"),
        "export_day": lambda: export_s(path, end),
        "trend_7d": lambda: trend_s(path, end),
    }
    out = {}
    for name, op in ops.items():
        runs = [op() for _ in range(repeat)]
        out[name] = {"min_s": round(min(runs), 5), "median_s": round(statistics.median(runs), 5)}
        print(f"  {days:>3} d {name:<12} min {min(runs):.4f} s  median {statistics.median(runs):.4f} s", flush=True)
    return out


def save(results: dict[str, Any], first: int, out: str | None) -> None:
    base = results["ages"].get(str(first))
    if base:
        for age in results["ages"].values():
            age["ratio_median"] = {
                k: round(v["median_s"] / base["ops"][k]["median_s"], 2) for k, v in age["ops"].items()
            }
    if out:
        Path(out).write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="1,30")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to build the journals (default: a temporary folder)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    ages = [int(d) for d in args.days.split(",")]
    tmp = Path(args.dir or tempfile.mkdtemp(prefix="radsurvey-age-"))
    results: dict[str, Any] = {"meters": METERS, "rate_hz": 1, "repeat": args.repeat, "ages": {}}
    try:
        for days in ages:
            path = tmp / f"journal-{days}d.sqlite"
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
            built = build(path, days, end)
            print(f"built {days} d: {built}", flush=True)
            results["ages"][str(days)] = {"build": built, "ops": measure(path, end, days, args.repeat)}
            if days != ages[0]:
                path.unlink()
            save(results, ages[0], args.out)  # after each age: a long run still leaves what it measured
    finally:
        print(json.dumps(results, indent=2))
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
