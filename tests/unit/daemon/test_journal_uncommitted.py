"""Rows a run could not commit (a full journal) end up in the next run's journal: counted, or imported back.

The journal is made full for real: ``PRAGMA max_page_count`` caps the writer's
connection at the pages it has, so SQLite answers "database or disk is full"
(SQLITE_FULL) exactly as on a full filesystem; the writer then spills or counts
at close (daemon/journal/spill.py). The next ``Journal`` records that in its
table ``uncommitted`` and imports the spill files (daemon/journal/uncommitted.py).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from radsurvey.daemon import journal as jr
from radsurvey.daemon.cli import app
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.journal.spill import notes_path
from tests.unit.daemon.test_journal_compact import (
    alarm_row,
    reading_row,
    reference_aggregates,
    sample_row,
    stored_aggregates,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def feed(j: Journal, start: int, n: int) -> list[tuple[str, int, dict[str, Any]]]:
    """Append ``n`` readings with a sample each (and an alarm event now and then); what was appended, by seq."""
    out = []
    for i in range(start, start + n):
        t = T0 + timedelta(seconds=i)
        raw = bytes([i % 256, 0, 255]) * 700  # about a page a reading: the first one past the cap fails
        r = reading_row(t, "mdesk", 0.1 + i / 100, raw=raw)
        rs = j.append("readings", r)
        out.append(("readings", rs, r))
        s = sample_row(t, "desk", rs, 0.1 + i / 100, 0.1 + i / 90, 0.08, None, 2.5)
        out.append(("samples", j.append("samples", s), s))
        if i % 7 == 3:
            a = alarm_row(t, "desk", "instant", "alarm" if i % 2 else "normal")
            out.append(("alarm_events", j.append("alarm_events", a), a))
    return out


def run_until_full(path: Path, spill_dir: Path | None, good: int, lost: int) -> tuple[list, list, int]:
    """A run that commits ``good`` readings, then finds the journal full for ``lost`` more and stops."""
    j = Journal(path, commit_interval_s=0.02, spill_dir=spill_dir)
    committed = feed(j, 0, good)
    assert j.flush(10)
    pages = j._conn.execute("PRAGMA page_count").fetchone()[0]
    j._conn.execute(f"PRAGMA max_page_count = {pages}")  # the writer is idle after the flush
    failed = feed(j, good, lost)
    assert not j.flush(1.0)  # commits fail: nothing more is committed
    assert j.last_error is not None and "full" in j.last_error
    run = j.run_id
    t0 = time.monotonic()
    j.close(clean=True)
    # The flush still waiting did not keep the writer from seeing the stop (it used to wait close's 60 s).
    assert time.monotonic() - t0 < 5.0
    return committed, failed, run


def view_row(conn: sqlite3.Connection, table: str, seq: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT * FROM {table} WHERE seq = ?", (seq,)).fetchone()
    assert row is not None, (table, seq)
    return dict(row)


def test_without_spill_dir_the_next_run_records_the_count_and_seq_range_in_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    committed, failed, run = run_until_full(path, None, good=40, lost=25)
    first, last = min(s for _, s, _ in failed), max(s for _, s, _ in failed)
    assert first == max(s for _, s, _ in committed) + 1
    note = json.loads(notes_path(path).read_text().split("\n")[0])
    assert (note["rows"], note["first_seq"], note["last_seq"]) == (len(failed), first, last)

    with Journal(path) as j:
        # Recorded in the journal itself, then the side file is gone (only fresh room reserved for a next note).
        assert not notes_path(path).read_text().strip()
        seq = j.append("meter_events", {"ts": "2026-03-01T13:00:00Z", "meter": "mdesk", "state": "connected"})
    assert seq == last + 1
    (gap,) = jr.stats(path)["uncommitted"]
    assert (gap["run"], gap["rows"], gap["first_seq"], gap["last_seq"]) == (run, len(failed), first, last)
    assert gap["spill_file"] is None and gap["imported_at"] is None and gap["not_in_journal"] == len(failed)
    assert "full" in gap["error"]

    # The side file gone, the journal alone keeps those seqs given out; no second record on the next start.
    notes_path(path).unlink()
    with Journal(path) as j:
        again = j.append("meter_events", {"ts": "2026-03-01T13:00:01Z", "meter": "mdesk", "state": "connected"})
    assert again == seq + 1
    assert len(jr.stats(path)["uncommitted"]) == 1

    out = CliRunner().invoke(app, ["journal", "stats", "--journal", str(path)], terminal_width=300)
    assert out.exit_code == 0, out.output
    assert f"{len(failed)} rows of run {run} (seq {first}-{last}) were not committed" in out.output
    assert "not spilled: lost; recorded in the journal" in out.output


def test_with_spill_dir_the_rows_come_back_under_their_own_seqs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    spill_dir = tmp_path / "spill"
    committed, failed, run = run_until_full(path, spill_dir, good=70, lost=50)
    (spill_file,) = spill_dir.glob("j.sqlite.spill-run*.jsonl")
    assert any(t == "alarm_events" for t, _, _ in failed)

    with Journal(path, spill_dir=spill_dir, commit_interval_s=0.02) as j:
        (result,) = j.imported
        assert result["imported"] == len(failed) and result["present"] == 0 and result["error"] is None
        later = feed(j, 70 + 50, 10)  # the new run continues above, as if nothing had happened
    assert not spill_file.exists() and Path(result["renamed"]).exists()

    with jr.reader(path) as conn:
        for table, seq, row in committed + failed + later:
            got = view_row(conn, table, seq)
            for key, value in row.items():
                assert got[key] == value, (table, seq, key)
        # Every seq from 1 to the top is there: no gap left by the full disk.
        seqs = sorted(r[0] for t in jr.SEQ_TABLES for r in conn.execute(f"SELECT seq FROM {t}"))
        assert seqs == list(range(1, seqs[-1] + 1))
        # The aggregates count the imported samples exactly as if they had been committed in time.
        assert stored_aggregates(conn) == reference_aggregates(conn)
    (gap,) = jr.stats(path)["uncommitted"]
    assert (gap["run"], gap["rows"]) == (run, len(failed))
    assert gap["spill_file"] == str(spill_file) and gap["imported_rows"] == len(failed)
    assert gap["imported_at"] is not None and gap["not_in_journal"] == 0


def test_import_spill_command_is_idempotent_and_says_what_it_did(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    spill_dir = tmp_path / "spill"
    _committed, failed, _run = run_until_full(path, spill_dir, good=20, lost=15)
    (spill_file,) = spill_dir.glob("j.sqlite.spill-run*.jsonl")
    moved = tmp_path / spill_file.name  # e.g. copied off the machine and back by hand
    spill_file.rename(moved)
    first, last = min(s for _, s, _ in failed), max(s for _, s, _ in failed)

    runner = CliRunner()
    out = runner.invoke(app, ["journal", "import-spill", "--journal", str(path), str(moved)], terminal_width=300)
    assert out.exit_code == 0, out.output
    assert f"{len(failed)} rows imported (seq {first}-{last}), 0 already in the journal" in out.output
    imported = moved.with_name(moved.name + ".imported")
    assert imported.exists() and not moved.exists()
    with jr.reader(path) as conn:
        runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    assert runs == 1  # the import is not a run of the daemon

    out = runner.invoke(app, ["journal", "import-spill", "--journal", str(path), str(imported)], terminal_width=300)
    assert out.exit_code == 0, out.output
    assert f"0 rows imported (seq {first}-{last}), {len(failed)} already in the journal" in out.output
    with jr.reader(path) as conn:
        n = sum(
            conn.execute(f"SELECT COUNT(*) FROM {t} WHERE seq BETWEEN ? AND ?", (first, last)).fetchone()[0]
            for t in jr.SEQ_TABLES
        )
    assert n == len(failed)
    (gap,) = jr.stats(path)["uncommitted"]
    assert gap["imported_rows"] == len(failed) and gap["imported_at"] is not None


def test_a_bad_spill_file_is_named_by_line_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    spill_dir = tmp_path / "spill"
    run_until_full(path, spill_dir, good=5, lost=5)
    (spill_file,) = spill_dir.glob("j.sqlite.spill-run*.jsonl")
    lines = spill_file.read_text().splitlines()
    lines[2] = lines[2].replace('"table":"', '"table":"x')
    spill_file.write_text("\n".join(lines) + "\n")
    with Journal(path, spill_dir=spill_dir) as j:
        (result,) = j.imported
        top = j.append("meter_events", {"ts": "2026-03-01T13:00:00Z", "meter": "mdesk", "state": "connected"})
    assert f"{spill_file}:3" in result["error"] and result["imported"] == 0
    assert spill_file.exists()  # kept for a fixed import; its seqs are never given again
    (gap,) = jr.stats(path)["uncommitted"]
    assert top == gap["last_seq"] + 1 and gap["imported_at"] is None
    out = CliRunner().invoke(app, ["journal", "import-spill", "--journal", str(path), str(spill_file)])
    assert out.exit_code == 1 and f"{spill_file}:3" in out.output


def test_import_spill_refuses_while_the_daemon_runs(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    spill_dir = tmp_path / "spill"
    run_until_full(path, spill_dir, good=3, lost=3)
    (spill_file,) = spill_dir.glob("j.sqlite.spill-run*.jsonl")
    spill_file.rename(tmp_path / spill_file.name)
    with Journal(path):  # this process is "the daemon": its run is open and its pid alive
        out = CliRunner().invoke(
            app, ["journal", "import-spill", "--journal", str(path), str(tmp_path / spill_file.name)]
        )
    assert out.exit_code != 0 and "daemon is running" in out.output


@pytest.mark.parametrize("line", ["{not json", '{"table":"readings","row":{"seq":0}}', '{"table":"readings"}'])
def test_parse_spill_rejects_what_is_not_a_spilled_row(tmp_path: Path, line: str) -> None:
    from radsurvey.daemon.journal.uncommitted import parse_spill

    f = tmp_path / "j.sqlite.spill-run1-seq1-1.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(jr.JournalError) as err:
        parse_spill(f)
    assert f"{f}:1" in str(err.value)


def test_a_note_that_cannot_be_read_keeps_the_side_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    _c, failed, _run = run_until_full(path, None, good=5, lost=5)
    with open(notes_path(path), "r+") as f:  # a second note, damaged (say, edited by hand)
        body = f.read().rstrip(" \n")
        f.seek(0)
        f.write(body + '\n{"last_seq": 999, "rows": "many"}\n')
    with Journal(path) as j:
        top = j.append("meter_events", {"ts": "2026-03-01T13:00:00Z", "meter": "mdesk", "state": "connected"})
    (gap,) = jr.stats(path)["uncommitted"]  # the good note is recorded
    assert gap["last_seq"] == max(s for _, s, _ in failed)
    assert '"rows": "many"' in notes_path(path).read_text()  # the side file stays for a person to read
    assert top == 1000  # and its seqs are still never given again
