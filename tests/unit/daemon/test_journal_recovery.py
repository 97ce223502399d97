"""A damaged journal (issue 21 §2): found at open, salvaged with the same seqs and cursors, the damage kept."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal, recovery
from tests.unit.daemon.test_journal import reading

ROWS = 3000


def filled(tmp_path: Path) -> tuple[Path, list[int]]:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as j:
        seqs = [j.append("readings", reading(i)) for i in range(ROWS)]
        j.flush()
        j.execute_now(
            "INSERT INTO sink_cursors(sink, seq, updated_at) VALUES ('mqtt', ?, '2026-01-01T01:00:00.000Z')",
            (seqs[1234],),
        )
        j.flush()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path, seqs


def damage_a_leaf_of(path: Path, table: str) -> None:
    """256 random bytes over the middle leaf page of ``table`` (its rows there become unreadable)."""
    conn = sqlite3.connect(path)
    pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'", (table,))]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    assert len(pages) > 4
    with path.open("r+b") as fp:
        fp.seek((pages[len(pages) // 2] - 1) * size)
        fp.write(os.urandom(256))


def test_a_damaged_journal_is_one_line_naming_the_file_and_the_recovery(tmp_path: Path) -> None:
    path, _ = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    with pytest.raises(recovery.JournalDamaged) as err:
        Journal(path)
    text = str(err.value)
    assert "\n" not in text and str(path) in text and "quick_check" in text
    assert f"radsurvey journal recover --journal {path}" in text
    with pytest.raises(recovery.JournalDamaged):
        jr.stats(path)  # `journal stats`: the same line, not a crash half-way


def test_recover_salvages_every_readable_row_with_its_seq_and_the_cursors_and_keeps_the_damage(
    tmp_path: Path,
) -> None:
    path, seqs = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    damaged_bytes = path.read_bytes()
    [done] = recovery.recover(path)
    assert done.journal == path and done.damaged.name.startswith("j.sqlite.damaged-")
    assert done.damaged.read_bytes() == damaged_bytes  # the damaged file is kept as it was
    assert done.salvage.unreadable_rows > 0
    with jr.reader(path) as conn:
        recovery.check(conn, path)
        got = [r[0] for r in conn.execute("SELECT seq FROM reading_rows ORDER BY seq")]
        cursor = conn.execute("SELECT seq FROM sink_cursors WHERE sink = 'mqtt'").fetchone()[0]
    assert cursor == seqs[1234]
    lost = sorted(set(seqs) - set(got))
    assert set(got) <= set(seqs) and len(got) + done.salvage.unreadable_rows >= len(seqs) - len(lost)
    assert lost and lost == list(range(lost[0], lost[-1] + 1))  # one leaf's run of seqs, nothing else
    assert got[0] == seqs[0] and got[-1] == seqs[-1]
    # The salvage is a journal the daemon writes on: seqs go on above everything it had.
    with Journal(path) as j:
        assert j.append("readings", reading(0)) > seqs[-1]
    assert recovery.waiting(path) == []
    assert recovery.recover(path) == []  # nothing left to do


def test_the_daemon_starts_a_fresh_journal_above_the_damaged_ones_seqs_until_someone_recovers(
    tmp_path: Path,
) -> None:
    path, seqs = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    with Journal.open_or_start_fresh(path, commit_interval_s=0.05) as j:
        assert j.append("readings", reading(1)) > seqs[-1]  # seqs only grow, for every subscriber
    [copy] = recovery.waiting(path)
    assert copy.name.startswith("j.sqlite.damaged-")
    [done] = recovery.recover(path)
    assert done.journal == copy.with_name(copy.name + ".recovered") and recovery.waiting(path) == []
    with jr.reader(done.journal) as conn:
        assert conn.execute("SELECT MAX(seq) FROM reading_rows").fetchone()[0] == seqs[-1]
    assert jr.stats(path)["tables"]["readings"]["rows"] == 1  # the fresh journal goes on as it was


@pytest.mark.timeout(30)
def test_a_table_whose_root_page_is_damaged_is_named_unreadable_and_the_salvage_ends(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as j:
        for i in range(20):  # one page: the table's root is its only leaf
            j.append("readings", reading(i))
        j.flush()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    (root,) = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'reading_rows'").fetchone()
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as fp:
        fp.seek((root - 1) * size)
        fp.write(b"\xff" * 256)  # a page header and cell pointers no reader can follow
    [done] = recovery.recover(path)
    assert "reading_rows" in done.salvage.unreadable_tables
