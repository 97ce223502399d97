"""The journal's hot-path queries are index- or rowid-bound: SQLite's plan for each says SEARCH, not SCAN.

Every statement the bisection, retention, the alarms' restore, export, series/dose and the trend
buckets run is recorded with the connection's trace callback (bound values expanded) and handed to
``EXPLAIN QUERY PLAN``. A full scan of a large table in any of them (``SELECT MIN(seq), MAX(seq)``
in one statement is one: 1.3 s on a 30-day journal, inside the writer's commit) fails the test.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from radsurvey.daemon.alarms.service import measured_history
from radsurvey.daemon.journal import Journal, connect, queries, seek, times, trends
from radsurvey.daemon.journal.retention import RetentionPlan, apply_retention

from .test_journal_compact import alarm_row, reading_row, sample_row

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
HOURS = 3
# Tables of a few rows per channel, meter or run: a scan of them costs nothing.
SMALL = {
    "channels",
    "reading_ctx",
    "sample_ctx",
    "agg_meta",
    "dose_year",
    "sink_cursors",
    "runs",
    "schema_version",
    "sqlite_master",
    "uncommitted",
    "row_counts",
    "clock_steps",
}


@pytest.fixture(scope="module")
def journal_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two channels, a sample every 30 s for three hours, aggregates on disk."""
    path = tmp_path_factory.mktemp("plans") / "j.sqlite"
    with Journal(path, commit_interval_s=0.05, batch_size=5000) as j:
        for i in range(HOURS * 120):
            t = START + timedelta(seconds=30 * i)
            for ch in ("a", "b"):
                rseq = j.append("readings", reading_row(t, "m" + ch, 0.2 + i % 7 * 0.1))
                j.append("samples", sample_row(t, ch, rseq, 0.2, 0.2, 0.0, None, 13.0))
    return path


@contextmanager
def traced(conn: sqlite3.Connection) -> Iterator[list[str]]:
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    try:
        yield statements
    finally:
        conn.set_trace_callback(None)


def scans(conn: sqlite3.Connection, statements: list[str]) -> list[str]:
    """'<statement> -> <plan line>' for every full scan of a table outside SMALL."""
    bad = []
    for sql in dict.fromkeys(statements):
        if not sql.lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE", "WITH")):
            continue
        for row in conn.execute("EXPLAIN QUERY PLAN " + sql):
            detail = str(row[3])
            if not detail.startswith("SCAN ") or "CONSTANT ROW" in detail:
                continue
            table = detail.split()[1]
            if table not in SMALL:
                bad.append(f"{sql} -> {detail}")
    return bad


def plan_of(path: Path, run: Callable[[sqlite3.Connection], Any], *, readonly: bool = True) -> list[str]:
    conn = connect(path, readonly=readonly)
    try:
        with traced(conn) as statements:
            run(conn)
        assert statements, "nothing ran"
        return scans(conn, statements)
    finally:
        conn.close()


def test_a_full_scan_is_what_the_check_finds(journal_file: Path) -> None:
    """The check itself: MIN and MAX of seq in one statement is a scan, each alone a search."""
    assert plan_of(journal_file, lambda c: c.execute("SELECT MIN(seq), MAX(seq) FROM reading_rows").fetchone())
    assert not plan_of(journal_file, lambda c: c.execute("SELECT MIN(seq) FROM reading_rows").fetchone())


@pytest.mark.parametrize("rows", ["readings", "samples"])
def test_the_seq_bisection_searches(journal_file: Path, rows: seek.Rows) -> None:
    middle = times.datetime_to_ms(START + timedelta(hours=1, seconds=7))
    assert plan_of(journal_file, lambda c: seek.seq_at(c, middle, rows)) == []


def test_retention_searches(journal_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    shutil.copy(journal_file, path)
    before = START + timedelta(hours=2)
    plan = RetentionPlan(upto=10**9, raw_before=before, minute_before=before, hour_before=before, events_before=before)

    def run(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        deleted = apply_retention(conn, plan)
        conn.execute("ROLLBACK")
        assert deleted["readings"] > 0 and deleted["agg_minute"] > 0

    assert plan_of(path, run, readonly=False) == []


def test_the_alarms_restore_searches(journal_file: Path) -> None:
    since = (START + timedelta(hours=2)).timestamp()
    assert plan_of(journal_file, lambda c: list(measured_history(c, "a", since))) == []


@pytest.mark.parametrize("tier", ["raw", "minute", "hour"])
def test_export_searches(journal_file: Path, tier: str, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[sqlite3.Connection] = []
    real = queries.connect

    def connect_traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        opened.append(conn)
        return conn

    monkeypatch.setattr(queries, "connect", connect_traced)
    statements: list[str] = []
    chosen, _, rows = queries.export_rows(
        journal_file, START + timedelta(minutes=70), START + timedelta(minutes=130), tier=tier
    )
    opened[0].set_trace_callback(statements.append)
    assert chosen == tier and list(rows)
    conn = connect(journal_file, readonly=True)
    try:
        assert scans(conn, statements) == []
    finally:
        conn.close()


def test_series_dose_and_trends_search(journal_file: Path) -> None:
    a, b = START + timedelta(minutes=70), START + timedelta(minutes=130)
    a_ms, b_ms = times.datetime_to_ms(a), times.datetime_to_ms(b)

    def run(conn: sqlite3.Connection) -> None:
        assert queries.finest_tier(conn, a_ms) == "raw"
        queries.aggregate_pieces(conn, "a", a_ms, b_ms)
        assert list(queries._raw_samples(conn, "a", a_ms, b_ms))
        for width in (10, 60, 3600):
            assert trends.trend(conn, "a", a, b, bucket_s=width).buckets
        assert list(trends.samples_between(conn, "a", a, b))

    assert plan_of(journal_file, run) == []


def test_journal_stats_reads_no_whole_table(journal_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``journal stats``: row counts from ``row_counts`` (kept by triggers), first and last rows and the tiers'
    spans by key; only the tiers' bytes walk their tables' pages (``dbstat``)."""
    conn = connect(journal_file, readonly=True)
    statements: list[str] = []
    real = queries.reader

    @contextmanager
    def traced_reader(path: Any) -> Iterator[sqlite3.Connection]:
        with real(path) as c:
            c.set_trace_callback(statements.append)
            yield c

    monkeypatch.setattr(queries, "reader", traced_reader)
    monkeypatch.setattr(queries, "compact_reader", traced_reader)
    out = queries.stats(journal_file)
    try:
        assert out["tables"]["readings"]["rows"] == out["tables"]["samples"]["rows"] == HOURS * 120 * 2
        assert out["tiers"]["minute"]["rows"] > 0 and out["tiers"]["minute"]["first_ts"]
        lookups = [s for s in statements if "DBSTAT" not in s.upper()]
        assert any("MIN(seq)" in s for s in lookups) and any("row_counts" in s for s in lookups)
        assert scans(conn, lookups) == []
    finally:
        conn.close()


def test_opening_the_journal_searches(journal_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Start-up: the bounded check, the migrations check, the aggregates' open buckets and alarm levels, the top
    seq, the run row.

    (A journal above ``full_check_at_open_max_mb`` gets the bounded check, checked here; SQLite's ``quick_check``,
    which reads every page by design, runs at open only up to that size, and in the background above it.)
    """
    from radsurvey.daemon.journal import writer

    path = tmp_path / "j.sqlite"
    shutil.copy(journal_file, path)
    statements: list[str] = []
    real = writer.connect

    def connect_traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = real(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(writer, "connect", connect_traced)
    with Journal(path, full_check_at_open_max_mb=0) as j:
        j.flush()
    conn = connect(path, readonly=True)
    try:
        assert any("agg_minute" in s for s in statements)
        assert any("ORDER BY start_ms DESC LIMIT 1" in s for s in statements)  # the bounded check's
        assert not any("quick_check" in s for s in statements)
        assert scans(conn, statements) == []
    finally:
        conn.close()


def test_every_rules_latest_alarm_event_is_an_index_search(tmp_path: Path) -> None:
    """The alarms' restore and the MQTT sink's seed: one search per (channel, rule), no GROUP BY scan."""
    from radsurvey.daemon.journal.alarms import latest_events

    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.01) as j:
        for i, (channel, rule, state) in enumerate(
            [("a", "instant", "alarm"), ("a", "twa", "warning"), ("b", "instant", "alarm"), ("a", "instant", "normal")]
        ):
            t = START + timedelta(seconds=i)
            j.append("alarm_events", alarm_row(t, channel, rule, state))
    conn = connect(path, readonly=True)
    try:
        with traced(conn) as statements:
            latest = latest_events(conn)
        assert [(r["channel"], r["rule"], r["state"]) for r in latest] == [
            ("a", "twa", "warning"),
            ("b", "instant", "alarm"),
            ("a", "instant", "normal"),
        ]
        assert [r["state"] for r in latest_events(conn, upto=latest[0]["seq"])] == ["alarm", "warning"]
        assert scans(conn, statements) == []
    finally:
        conn.close()
