"""A damaged journal (issue 21 §2): found at open, salvaged with the same seqs and cursors, the damage kept."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal, recovery
from radsurvey.protocols.errors import JournalError
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


# -- a journal too large for the full check at open (issue 24 §1): bounded at open, full in the background --


def damage_page(path: Path, page: int, data: bytes, offset: int = 0) -> None:
    size = sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as fp:
        fp.seek((page - 1) * size + offset)
        fp.write(data)


def test_a_large_journal_opens_past_damage_it_does_not_read_and_the_background_check_finds_it(
    tmp_path: Path,
) -> None:
    path, seqs = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    found: list[recovery.JournalDamaged] = []
    seen = threading.Event()
    with Journal(path, commit_interval_s=0.05, full_check_at_open_max_mb=0) as j:
        assert not j.checked_in_full
        j.add_damage_listener(lambda err: (found.append(err), seen.set()))
        assert j.append("readings", reading(1)) > seqs[-1] and j.flush()  # acquisition goes on meanwhile
        j.start_background_check()
        assert seen.wait(60)
        assert j.background_check is not None and j.background_check.verdict == "damaged"
    [err] = found
    text = str(err)
    assert "\n" not in text and str(path) in text and "quick_check" in text
    assert f"radsurvey journal recover --journal {path}" in text


def test_a_large_sound_journal_passes_the_background_check_once(tmp_path: Path) -> None:
    path, _ = filled(tmp_path)
    found: list[recovery.JournalDamaged] = []
    with Journal(path, commit_interval_s=0.05, full_check_at_open_max_mb=0) as j:
        j.add_damage_listener(found.append)
        j.start_background_check()
        check = j.background_check
        assert check is not None
        assert check.join(60)
        j.start_background_check()  # once per start
        assert j.background_check is check and check.verdict == "ok" and check.seconds is not None
    assert found == []
    with Journal(path) as j:  # a small journal is checked in full at open: nothing left for the background
        assert j.checked_in_full
        j.start_background_check()
        assert j.background_check is None


@pytest.mark.parametrize(
    ("where", "data", "offset", "said"),
    [
        ("header", b"\x00" * 16, 0, "file is not a database"),  # "SQLite format 3"
        ("schema", b"\xff" * 200, 100, "database disk image is malformed"),  # sqlite_master's b-tree header
    ],
)
def test_a_damaged_header_or_schema_still_fails_at_open_whatever_the_size(
    tmp_path: Path, where: str, data: bytes, offset: int, said: str
) -> None:
    """As before the bounded check: the connection itself fails, in one line (exit 2 for `run`)."""
    path, _ = filled(tmp_path)
    damage_page(path, 1, data, offset=offset)
    with pytest.raises(JournalError) as err:
        Journal(path, full_check_at_open_max_mb=0)
    assert str(err.value) == f"{path}: cannot open journal: {said}"


def test_a_top_leaf_damaged_fails_the_bounded_check_at_open(tmp_path: Path) -> None:
    path, _ = filled(tmp_path)
    conn = sqlite3.connect(path)
    [(last,)] = conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'reading_rows' AND pagetype = 'leaf' ORDER BY path DESC LIMIT 1"
    ).fetchall()
    conn.close()
    damage_page(path, last, b"\xff" * 64)
    with pytest.raises(recovery.JournalDamaged):
        Journal(path, full_check_at_open_max_mb=0)


def test_corruption_met_by_a_commit_is_reported_as_damage_not_retried_as_a_disk_error(tmp_path: Path) -> None:
    path, seqs = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    found: list[recovery.JournalDamaged] = []
    health: list[str | None] = []
    seen = threading.Event()
    j = Journal(path, commit_interval_s=0.05, full_check_at_open_max_mb=0)
    j.add_damage_listener(lambda err: (found.append(err), seen.set()))
    j.add_health_listener(health.append)
    # A maintenance task in the writer's transaction reading the damaged page (as a retention pass would).
    j.run_in_writer(lambda conn: conn.execute("SELECT SUM(length(v)) FROM reading_rows").fetchall())
    seq = j.append("readings", reading(2))
    assert seen.wait(60)
    j.close()
    [err] = found
    assert "malformed" in str(err) and f"radsurvey journal recover --journal {path}" in str(err)
    assert health == [] and j.last_error is None  # not the journal_write alarm of a full disk: the damage path
    assert j.damage is err
    # The row the damaged journal could not commit goes to the fresh one under its seq (cli/run.py does this).
    assert [row["seq"] for table, row in j.carried if table == "readings"] == [seq]
    with Journal.start_fresh(path, err, carried=j.carried, commit_interval_s=0.05) as fresh:
        assert fresh.append("readings", reading(3)) == seq + 1
    with jr.reader(path) as conn:
        assert [r[0] for r in conn.execute("SELECT seq FROM reading_rows ORDER BY seq")] == [seq, seq + 1]
    [copy] = recovery.waiting(path)
    with jr.reader(copy) as conn:
        assert conn.execute("SELECT MAX(seq) FROM reading_rows").fetchone()[0] == seqs[-1]


def test_journal_stats_of_a_large_journal_runs_neither_quick_check_nor_dbstat_unless_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from radsurvey.daemon.journal import queries

    path, _ = filled(tmp_path)
    statements: list[str] = []
    real = queries.connect

    def traced(*args: object, **kwargs: object) -> sqlite3.Connection:
        conn = real(*args, **kwargs)  # type: ignore[arg-type]
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(queries, "connect", traced)
    monkeypatch.setattr(recovery, "FULL_CHECK_AT_OPEN_MAX_MB", 0.0)
    got = jr.stats(path)
    assert statements and not [s for s in statements if "quick_check" in s or "dbstat" in s]
    assert got["tables"]["readings"]["rows"] == ROWS
    assert all(t["bytes"] is None for t in got["tiers"].values())
    assert got["page_size"] == 1024 and got["page_count"] * 1024 <= got["size_bytes"] and got["free_pages"] >= 0
    statements.clear()
    sized = jr.stats(path, sizes=True)
    assert any("dbstat" in s for s in statements) and not any("quick_check" in s for s in statements)
    assert sized["tiers"]["raw"]["bytes"] > 0
    monkeypatch.setattr(recovery, "FULL_CHECK_AT_OPEN_MAX_MB", 16.0)
    statements.clear()
    jr.stats(path)  # a small journal: checked in full, as at open
    assert any("quick_check" in s for s in statements)


def test_the_configs_default_is_the_journals() -> None:
    from radsurvey.config.schema import JournalConfig

    assert JournalConfig().full_check_at_open_max_mb == recovery.FULL_CHECK_AT_OPEN_MAX_MB
