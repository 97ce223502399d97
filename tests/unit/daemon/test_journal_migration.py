"""A journal written by radsurvey 0.1 (tests/fixtures/journal-0.1, made by the 0.1 code) migrates in place.

Every row, cursor, alarm event and survey is kept (the views give back 0.1's
rows value for value), the sinks resume from their cursors with the same rows
0.1 would have sent, and new rows continue above every seq.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.journal.feed import JournalFeed
from radsurvey.daemon.survey.store import SurveyStore

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "journal-0.1" / "journal.sqlite"
TABLES = (
    "readings",
    "samples",
    "meter_events",
    "alarm_events",
    "alarm_acks",
    "alarm_rule_state",
    "surveys",
    "survey_point_specs",
    "survey_readings",
    "survey_points",
    "sink_cursors",
    "runs",
)


def rows(conn: sqlite3.Connection, table: str) -> list[tuple[object, ...]]:
    key = "seq" if table in jr.SEQ_TABLES else "rowid" if table not in ("readings", "samples") else "seq"
    if table in ("sink_cursors",):
        key = "sink"
    if table in ("alarm_rule_state",):
        key = "channel, rule"
    if table in ("surveys",):
        key = "id"
    if table in ("survey_point_specs",):
        key = "survey, point"
    return [tuple(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY {key}")]


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite"
    shutil.copy(FIXTURE, path)
    conn = jr.connect(path)
    try:
        assert jr.schema_version(conn) == 4, "the fixture is a 0.1 journal"
        jr.migrate(conn, path)
    finally:
        conn.close()
    return path


def test_every_row_cursor_alarm_event_and_survey_is_kept(migrated: Path) -> None:
    old = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    new = sqlite3.connect(migrated)
    assert jr.schema_version(new) == jr.SCHEMA_VERSION
    for table in TABLES:
        before, after = rows(old, table), rows(new, table)
        assert before or table == "alarm_rule_state", f"the fixture has {table} rows"
        assert after == before, table
    # the raw rows are stored compactly now: no copy of the old tables is left
    kinds = dict(new.execute("SELECT name, type FROM sqlite_master WHERE name IN ('readings', 'samples')").fetchall())
    assert kinds == {"readings": "view", "samples": "view"}


def test_sinks_resume_where_they_were_with_the_rows_0_1_would_have_sent(migrated: Path) -> None:
    old = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    old.row_factory = sqlite3.Row
    cursors = dict(old.execute("SELECT sink, seq FROM sink_cursors").fetchall())
    assert cursors["influxdb"] < cursors["mqtt"], "the fixture's InfluxDB sink lags"
    tables = ("readings", "samples", "alarm_events", "survey_points")
    expected = sorted(
        (r["seq"], t, tuple(r))
        for t in tables
        for r in old.execute(f"SELECT * FROM {t} WHERE seq > ?", (cursors["influxdb"],))
    )
    feed = JournalFeed(migrated, tables)
    try:
        assert feed.load_cursor("influxdb") == cursors["influxdb"]
        page = feed.read_page(feed.load_cursor("influxdb"), 10_000)
    finally:
        feed.close()
    assert [(r.seq, r.table, tuple(r.data.values())) for r in page.rows] == expected
    assert page.upto == max(cursors.values())


def test_the_daemon_continues_above_every_seq_and_aggregates_cover_the_old_rows(migrated: Path) -> None:
    top = jr.max_seq(sqlite3.connect(migrated))
    with Journal(migrated, commit_interval_s=0.01) as journal:
        seq = journal.append(
            "readings",
            {
                "ts": "2026-12-04T23:59:00.000Z",
                "meter": "sim",
                "value": 0.1,
                "unit": "uGy/h",
                "quantity": "air_kerma_rate",
            },
        )
        assert seq == top + 1
    conn = sqlite3.connect(migrated)
    n_samples = conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    assert conn.execute("SELECT SUM(n) FROM dose_year").fetchone()[0] == n_samples
    assert conn.execute("SELECT SUM(n) FROM agg_minute").fetchone()[0] == n_samples
    # the latching alarm of the fixture shows in its channel's aggregates
    assert (
        conn.execute(
            "SELECT MAX(alarm) FROM agg_minute a JOIN channels c ON c.id = a.channel WHERE c.name = 'ward5'"
        ).fetchone()[0]
        == 2
    )


def test_the_survey_is_readable_after_the_migration(migrated: Path) -> None:
    with SurveyStore(migrated) as store:
        session = store.get("S-1")
        assert session.background
        assert store.latest_points("S-1")


def test_the_last_reading_of_each_meter_is_found_without_a_scan(migrated: Path) -> None:
    from radsurvey.daemon.journal.queries import last_reading_times

    old = sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True)
    expected = dict(old.execute("SELECT meter, MAX(ts) FROM readings GROUP BY meter").fetchall())
    conn = sqlite3.connect(migrated)
    assert last_reading_times(conn) == expected
    upto = 100
    expected_upto = dict(old.execute("SELECT meter, MAX(ts) FROM readings WHERE seq <= ? GROUP BY meter", (upto,)))
    assert last_reading_times(conn, upto) == expected_upto


def test_a_new_journal_logs_one_creation_line_and_an_old_one_each_step_it_takes(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    fresh = tmp_path / "new.sqlite"
    old = tmp_path / "old.sqlite"
    shutil.copy(FIXTURE, old)
    with capture_logs() as logs:
        for path in (fresh, old):
            conn = jr.connect(path)
            try:
                jr.migrate(conn, path)
            finally:
                conn.close()
    events = [(e["event"], e.get("version")) for e in logs]
    assert events[0] == ("journal created", jr.SCHEMA_VERSION)
    steps = [v for event, v in events[1:] if event == "journal migrated"]
    assert steps == list(range(5, jr.SCHEMA_VERSION + 1)), "the 0.1 journal (schema 4) takes every later step"
    assert [e for e, _ in events].count("journal created") == 1
