"""What a steady commit writes: the pages of the rows it adds, not the counts or the sinks' cursors.

Every page a transaction changes is appended to the WAL (and later written again by the checkpoint),
so pages per commit is what an SD card pays at every ``commit_interval_s`` (benchmarks/README.md,
docs/raspberry-pi.md). The test reads the frame headers of the WAL as SQLite's file format documents
them (https://www.sqlite.org/fileformat2.html#the_write_ahead_log: a 32-byte header with two salts,
then per frame a 24-byte header: page number, the database size in pages on a commit frame, the
salts) and names each page's table with ``dbstat``.
"""

from __future__ import annotations

import sqlite3
import struct
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal

from .test_journal_compact import reading_row, sample_row

START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


def wal_commits(path: Path) -> list[set[int]]:
    """The pages of each committed transaction in the WAL of ``path`` (current salts only)."""
    data = Path(f"{path}-wal").read_bytes()
    page_size = struct.unpack(">I", data[8:12])[0]
    salts = data[16:24]
    commits: list[set[int]] = []
    pages: set[int] = set()
    at = 32
    while at + 24 + page_size <= len(data):
        page, size = struct.unpack(">II", data[at : at + 8])
        if data[at + 8 : at + 16] != salts:
            break  # a frame of an earlier WAL generation
        pages.add(page)
        if size:
            commits.append(pages)
            pages = set()
        at += 24 + page_size
    return commits


def table_of_pages(path: Path) -> dict[int, str]:
    conn = jr.connect(path, readonly=True)
    try:
        return {int(p): str(n) for n, p in conn.execute("SELECT name, pageno FROM dbstat")}
    finally:
        conn.close()


def wait_committed(journal: Journal, seq: int) -> None:
    done = threading.Event()
    journal.add_commit_listener(lambda top: done.set() if top >= seq else None)
    if journal.committed_seq < seq:
        assert done.wait(30), f"seq {seq} was not committed"


def test_a_steady_commit_writes_the_rows_pages_only(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, commit_interval_s=0.02)
    try:
        for i in range(41):
            if i == 1:  # the first round named the meters and channels; the WAL from here: the steady state
                journal.flush()
                journal._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            t = START + timedelta(seconds=i)
            seqs = []
            for ch in ("a", "b", "c", "d"):
                rseq = journal.append("readings", reading_row(t, "m" + ch, 0.2 + i % 5 * 0.1))
                seqs.append(journal.append("samples", sample_row(t, ch, rseq, 0.2, 0.2, 0.0, None, 13.0)))
            wait_committed(journal, seqs[-1])
            journal.save_cursor("mqtt", seqs[-1])  # as the sinks acknowledge after every commit
            journal.save_cursor("influxdb", seqs[-1])
        names = table_of_pages(path)
        commits = wal_commits(path)
        assert len(commits) >= 20, "the rows were committed in many transactions"
        touched = {names.get(p, "?") for pages in commits for p in pages}
        # page 1 (named sqlite_schema) holds the file's size in pages: written by a commit that grows the file
        assert touched <= {"reading_rows", "sample_rows", "sqlite_schema"}, touched
        sizes = sorted(len(pages) for pages in commits)  # a leaf filled: its new sibling and their parent too
        assert sum(sizes) / len(sizes) <= 3 and sizes[len(sizes) // 2] <= 3, sizes
        stored = dict(journal._conn.execute("SELECT sink, seq FROM sink_cursors"))
        assert stored == {"mqtt": 8, "influxdb": 8}, "cursors wait for the minute or a flush (the first round's)"
        journal.flush()
        stored = dict(journal._conn.execute("SELECT sink, seq FROM sink_cursors"))
        assert stored == {"mqtt": seqs[-1], "influxdb": seqs[-1]}, "a flush stores them"
        journal.save_cursor("mqtt", seqs[-1] + 1)
    finally:
        journal.close()
    conn = sqlite3.connect(path)
    try:
        assert dict(conn.execute("SELECT sink, seq FROM sink_cursors"))["mqtt"] == seqs[-1] + 1, "close stores them"
        counts = jr.schema.row_counts(conn)
        assert counts is not None and counts["reading_rows"] == counts["sample_rows"] == 164
        assert conn.execute("SELECT upto FROM row_counts WHERE name = 'sample_rows'").fetchone()[0] == seqs[-1]
    finally:
        conn.close()


def test_cursors_are_stored_with_the_minutes_persist(tmp_path: Path, monkeypatch) -> None:
    from radsurvey.daemon.journal import writer

    monkeypatch.setattr(writer, "CURSOR_PERSIST_S", 0.2)
    path = tmp_path / "j.sqlite"
    journal = Journal(path, commit_interval_s=0.02)
    try:
        seq = journal.append("readings", reading_row(START, "m", 0.2))
        wait_committed(journal, seq)
        journal.save_cursor("mqtt", seq)  # no row follows: the cursor alone is committed when due
        conn = jr.connect(path, readonly=True)
        try:
            for _ in range(200):
                if conn.execute("SELECT seq FROM sink_cursors WHERE sink = 'mqtt'").fetchone() is not None:
                    break
                threading.Event().wait(0.05)
            assert conn.execute("SELECT seq FROM sink_cursors WHERE sink = 'mqtt'").fetchone()[0] == seq
        finally:
            conn.close()
    finally:
        journal.close()


def test_the_writer_checkpoints_every_4000_wal_pages_and_its_wal_grows_past_sqlites_1000(tmp_path: Path) -> None:
    """docs/raspberry-pi.md section 6: the WAL is copied into the file every 4 000 pages, not SQLite's 1 000."""
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=3600) as journal:
        assert journal._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 4000
        for i in range(1500):  # a commit of a page or two each: well over 1 000 pages, under 4 000
            journal.append("readings", reading_row(START + timedelta(seconds=i), "m", 1.0 + i))
            assert journal.flush(30)
        frames = (Path(f"{path}-wal").stat().st_size - 32) // (1024 + 24)
    assert 1100 < frames < 4000, f"the WAL was checkpointed at {frames} pages"
