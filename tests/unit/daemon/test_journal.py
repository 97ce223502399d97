"""The journal: every row committed once, in seq order, readable while written."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal
from radsurvey.protocols.errors import JournalError


def reading(i: int) -> dict:
    return {
        "ts": f"2026-01-01T00:00:{i % 60:02d}.000Z",
        "meter": "m",
        "value": float(i),
        "unit": "uGy/h",
        "quantity": "air_kerma_rate",
    }


def test_new_journal_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    assert jr.stats(path)["schema_version"] == jr.SCHEMA_VERSION
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_seq_is_strictly_increasing_across_tables_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as j:
        a = j.append("readings", reading(1))
        b = j.append("meter_events", {"ts": "2026-01-01T00:00:00Z", "meter": "m", "state": "connected"})
    with Journal(path) as j:
        c = j.append("readings", reading(2))
    assert a < b < c


def test_flush_makes_rows_visible_to_readers(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=30) as j:
        for i in range(5):
            j.append("readings", reading(i))
        assert j.flush(timeout_s=10)
        assert jr.stats(path)["tables"]["readings"]["rows"] == 5
        assert j.committed_seq == 5


def test_batch_size_commits_before_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    committed = threading.Event()
    with Journal(path, commit_interval_s=60, batch_size=10) as j:
        j.add_commit_listener(lambda seq: committed.set() if seq >= 10 else None)
        for i in range(10):
            j.append("readings", reading(i))
        assert committed.wait(10)


def test_clean_close_is_recorded_in_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close(clean=True)
    j = Journal(path)  # a second run that never closes: as after a crash
    run = jr.stats(path)["last_run"]
    assert run["stopped_at"] is None and run["clean"] == 0
    j.close(clean=False)
    stats = jr.stats(path)
    assert stats["runs"] == {"count": 2, "clean": 1}


def test_rows_survive_a_crash_after_commit(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    j = Journal(path, commit_interval_s=0.05)
    j.append("readings", reading(1))
    assert j.flush()
    # No close(): the process "dies" here. A new reader still sees the row.
    assert jr.stats(path)["tables"]["readings"]["rows"] == 1
    j.close()


def test_a_failed_commit_is_retried_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as j:
        blocker = sqlite3.connect(path, timeout=0)
        blocker.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        j._conn.execute("PRAGMA busy_timeout=50")
        j.append("readings", reading(1))
        j.append("readings", reading(2))
        threading.Event().wait(0.5)
        assert j.last_error is not None
        blocker.rollback()
        blocker.close()
        assert j.flush(timeout_s=10)
        assert j.last_error is None
    assert jr.stats(path)["tables"]["readings"]["rows"] == 2


def test_the_writer_keeps_committing_when_its_log_stream_is_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A closed stderr (a broken pipe to journald) must not end the writer thread when it logs a retry."""
    import io
    import sys

    from radsurvey.daemon.logging import configure_logging

    gone = io.StringIO()
    gone.close()
    monkeypatch.setattr(sys, "stderr", gone)
    configure_logging(json=True)
    try:
        path = tmp_path / "j.sqlite"
        with Journal(path, commit_interval_s=0.05) as j:
            blocker = sqlite3.connect(path, timeout=0)
            blocker.execute("BEGIN IMMEDIATE")
            j._conn.execute("PRAGMA busy_timeout=50")
            j.append("readings", reading(1))
            threading.Event().wait(0.3)  # at least one failed commit, logged to the closed stream
            assert j.last_error is not None
            blocker.rollback()
            blocker.close()
            assert j.flush(timeout_s=10), "the writer thread survived its log line"
        assert jr.stats(path)["tables"]["readings"]["rows"] == 1
    finally:
        monkeypatch.undo()
        configure_logging(json=True)


def test_reader_refuses_a_journal_from_a_newer_radsurvey(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (999, 'x', 'future')")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        jr.stats(path)
    with pytest.raises(JournalError, match="newer"):
        Journal(path)


def test_missing_journal_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="journal not found"):
        jr.stats(tmp_path / "nope.sqlite")


def test_appending_after_close_is_refused(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.append("readings", reading(1))


def test_a_missing_earlier_migration_is_applied_even_when_later_ones_are(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    Journal(path).close()
    first = jr.MIGRATIONS[0][0]
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM schema_version WHERE version = ?", (first,))
    conn.execute("DROP TABLE meter_events")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError):
        # migration 1 creates tables that partly still exist: it must be attempted, not skipped
        Journal(path)


def test_rows_appended_from_many_threads_are_committed_as_a_gap_free_prefix(tmp_path: Path) -> None:
    """After every commit the committed seqs are exactly 1..top: a sink reading up to top never skips a row."""
    import sys

    threads_n, per_thread = 6, 1500
    gaps: list[tuple[int, int]] = []
    with Journal(tmp_path / "j.sqlite", commit_interval_s=0.001, batch_size=7) as j:
        check = sqlite3.connect(f"file:{j.path}?mode=ro", uri=True, check_same_thread=False)

        def after_commit(top: int) -> None:  # runs in the writer thread, right after COMMIT
            count, highest = check.execute("SELECT COUNT(*), MAX(seq) FROM readings").fetchone()
            if count != highest or highest != top:
                gaps.append((count, highest))

        j.add_commit_listener(after_commit)
        start = threading.Barrier(threads_n)

        def writer() -> None:
            start.wait()
            for i in range(per_thread):
                j.append("readings", reading(i))

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show at once
        try:
            workers = [threading.Thread(target=writer) for _ in range(threads_n)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(60)
        finally:
            sys.setswitchinterval(interval)
        assert j.flush(timeout_s=30)
        check.close()
    assert not gaps, f"{len(gaps)} commits left a gap below their top seq, e.g. (rows, max seq) {gaps[:5]}"
    conn = sqlite3.connect(tmp_path / "j.sqlite")
    seqs = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
    assert seqs == list(range(1, threads_n * per_thread + 1))


def test_a_new_journal_has_1_kib_pages_and_an_older_one_keeps_its_own(tmp_path: Path) -> None:
    # A commit writes whole pages to the WAL: 1 KiB pages write half the bytes of SQLite's 4 KiB
    # at a 1 s commit (benchmarks/README.md, SD writes). The page size is fixed when a file is made.
    new = tmp_path / "new.sqlite"
    Journal(new).close()
    older = tmp_path / "older.sqlite"
    conn = sqlite3.connect(older)
    conn.execute("PRAGMA page_size=4096")
    conn.execute("CREATE TABLE made_earlier (x)")  # the file exists with its pages before the journal opens it
    conn.close()
    Journal(older).close()
    sizes = {}
    for path in (new, older):
        conn = sqlite3.connect(path)
        sizes[path.name] = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.close()
    assert sizes == {"new.sqlite": 1024, "older.sqlite": 4096}
