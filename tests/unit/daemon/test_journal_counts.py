"""``row_counts`` (schema 8, 9) holds exactly the rows of each counted table, whatever wrote or deleted them.

``journal stats`` reads its row counts from there (a lookup, not a read of the table; for the two raw
tables plus the rows above ``upto``, by key): the writer's appends, the aggregates' INSERT OR REPLACE,
retention's deletes, a 0.1 journal's migration and a salvage each keep the counts equal to ``COUNT(*)``.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal, queries
from radsurvey.daemon.journal.recovery import salvage
from radsurvey.daemon.journal.retention import RetentionPlan, apply_retention
from radsurvey.daemon.journal.schema import COUNTED, row_counts

from .test_journal_compact import alarm_row, reading_row, sample_row
from .test_journal_migration import FIXTURE

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def exact(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]) for t in COUNTED}


def fill(path: Path, minutes: int = 150) -> None:
    with Journal(path, commit_interval_s=0.05, batch_size=5000) as j:
        for i in range(minutes * 2):
            t = START + timedelta(seconds=30 * i)
            for ch in ("a", "b"):
                rseq = j.append("readings", reading_row(t, "m" + ch, 0.2 + i % 5 * 0.1))
                j.append("samples", sample_row(t, ch, rseq, 0.2, 0.2, 0.0, None, 13.0))
            if i % 50 == 0:
                j.append("alarm_events", alarm_row(t, "a", "instant", "alarm" if i % 100 else "normal"))


def test_the_writer_and_the_aggregates_keep_the_counts(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fill(path)
    fill(path)  # a second run reopens the journal: the aggregates' open buckets are replaced, not added
    conn = jr.connect(path, readonly=True)
    try:
        counts = row_counts(conn)
        assert counts == exact(conn)
        assert counts["reading_rows"] == counts["sample_rows"] == 2 * 300 * 2 and counts["agg_minute"] > 0
    finally:
        conn.close()
    stats = queries.stats(path)
    assert stats["tables"]["readings"]["rows"] == 1200 and stats["tables"]["alarm_events"]["rows"] == 12
    assert stats["tiers"]["raw"]["rows"] == 1200


def test_retention_keeps_the_counts_and_a_rollback_leaves_them(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fill(path)
    before = START + timedelta(minutes=90)
    plan = RetentionPlan(upto=10**9, raw_before=before, minute_before=before, hour_before=before, events_before=before)
    conn = jr.connect(path)
    try:
        kept = row_counts(conn)
        conn.execute("BEGIN IMMEDIATE")
        deleted = apply_retention(conn, plan)
        conn.execute("ROLLBACK")
        assert deleted["readings"] > 0 and row_counts(conn) == kept
        conn.execute("BEGIN IMMEDIATE")
        apply_retention(conn, plan)
        conn.execute("COMMIT")
        after = row_counts(conn)
        assert after == exact(conn) and after is not None and kept is not None
        assert after["reading_rows"] == kept["reading_rows"] - deleted["readings"]
    finally:
        conn.close()


def test_a_0_1_journal_is_counted_by_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    shutil.copy(FIXTURE, path)
    conn = jr.connect(path)
    try:
        jr.migrate(conn, path)
        counts = row_counts(conn)
        assert counts == exact(conn) and counts is not None and counts["reading_rows"] > 0
    finally:
        conn.close()


def test_a_salvage_counts_the_rows_it_saved(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fill(path, minutes=30)
    conn = jr.connect(path)
    try:
        conn.execute("UPDATE row_counts SET n = n + 7")  # counts that no longer match the rows
    finally:
        conn.close()
    target = tmp_path / "saved.sqlite"
    salvage(path, target)
    conn = jr.connect(target, readonly=True)
    try:
        assert row_counts(conn) == exact(conn)
    finally:
        conn.close()


# -- schema 9: the raw tables counted up to ``upto``, folded once a minute ------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 20)),
        st.tuples(st.just("below"), st.integers(0, 10**6)),  # an insert into a gap under the top (a spill import)
        st.tuples(st.just("delete"), st.integers(0, 10**6)),  # retention, or a row above upto
        st.tuples(st.just("fold"), st.just(0)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_folded_counts_equal_count_star_whatever_the_order_of_inserts_deletes_and_folds(
    tmp_path: Path, steps: list[tuple[str, int]]
) -> None:
    path = tmp_path / f"j{abs(hash(tuple(steps)))}.sqlite"
    conn = jr.connect(path)
    try:
        jr.migrate(conn, path)
        assert conn.execute("SELECT upto FROM row_counts WHERE name = 'reading_rows'").fetchone()[0] == 0
        top = 0
        for op, arg in steps:
            seqs = [r[0] for r in conn.execute("SELECT seq FROM reading_rows ORDER BY seq")]
            if op == "append":
                for _ in range(arg):
                    top += 2  # readings take every other seq, as beside samples
                    conn.execute("INSERT INTO reading_rows(seq, t, k, v) VALUES (?, 0, 1, 0.5)", (top,))
            elif op == "below" and top > 1:
                gap = sorted(set(range(1, top)) - set(seqs))
                if gap:
                    conn.execute("INSERT INTO reading_rows(seq, t, k, v) VALUES (?, 0, 1, 0.5)", (gap[arg % len(gap)],))
            elif op == "delete" and seqs:
                conn.execute("DELETE FROM reading_rows WHERE seq <= ?", (seqs[arg % len(seqs)],))
            elif op == "fold":
                jr.schema.fold_counts(conn)
            counts = row_counts(conn)
            assert counts is not None and counts["reading_rows"] == exact(conn)["reading_rows"], (op, arg)
    finally:
        conn.close()


def test_a_schema_8_journal_is_folded_by_migration_9(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    fill(path, minutes=20)
    conn = jr.connect(path)
    try:  # back to schema 8 as 0.3.0 left it: plain triggers, no upto
        conn.execute("BEGIN IMMEDIATE")
        for table in ("reading_rows", "sample_rows"):
            conn.execute(f"DROP TRIGGER {table}_counted")
            conn.execute(f"DROP TRIGGER {table}_uncounted")
            conn.execute(
                f"CREATE TRIGGER {table}_counted AFTER INSERT ON {table}"
                f" BEGIN UPDATE row_counts SET n = n + 1 WHERE name = '{table}'; END"
            )
            conn.execute(
                f"CREATE TRIGGER {table}_uncounted AFTER DELETE ON {table}"
                f" BEGIN UPDATE row_counts SET n = n - 1 WHERE name = '{table}'; END"
            )
        conn.execute("ALTER TABLE row_counts DROP COLUMN upto")
        conn.execute("DELETE FROM schema_version WHERE version = 9")
        conn.execute("COMMIT")
        assert row_counts(conn) == exact(conn)  # schema 8 is read as it was
        jr.migrate(conn, path)
        assert jr.schema_version(conn) == jr.SCHEMA_VERSION
        upto = dict(conn.execute("SELECT name, upto FROM row_counts WHERE name IN ('reading_rows', 'sample_rows')"))
        assert upto["reading_rows"] == conn.execute("SELECT MAX(seq) FROM reading_rows").fetchone()[0]
        assert row_counts(conn) == exact(conn)
    finally:
        conn.close()
    fill(path, minutes=5)  # and the writer goes on from there
    conn = jr.connect(path, readonly=True)
    try:
        assert row_counts(conn) == exact(conn)
    finally:
        conn.close()
