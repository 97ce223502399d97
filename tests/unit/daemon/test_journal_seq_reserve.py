"""No seq is given out twice, even when a power cut takes commits a sink had already published (schema 10).

With ``synchronous = NORMAL`` a commit reaches the disk with the kernel's writeback; a sink may publish its
rows before that. The writer keeps a fsynced reservation above every seq it tells the sinks, with the boot it
was made in: a run after a restart of the machine continues above it, a run after a killed process (the
kernel kept every commit) continues right above the last row. A power cut is simulated here by deleting the
rows it would take and giving the reservation another boot's id: the file then is what the disk would hold.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from radsurvey.daemon.journal import Journal, recovery, schema, writer

READING = {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "value": 1.0, "unit": "uGy/h", "quantity": "air_kerma_rate"}


def stored(path: Path) -> tuple[int, str] | None:
    conn = sqlite3.connect(path)
    try:
        return schema.reservation(conn)
    finally:
        conn.close()


def test_every_seq_told_to_a_sink_is_under_a_reservation_already_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "SEQ_BLOCK", 7)  # raised many times over the run
    path = tmp_path / "j.sqlite"
    journal = Journal(path, commit_interval_s=3600)
    told: list[tuple[int, int]] = []

    def on_commit(seq: int) -> None:  # the writer thread, right after COMMIT: what a sink would be told
        left = stored(path)
        told.append((seq, left[0] if left else -1))

    journal.add_commit_listener(on_commit)
    try:
        for _ in range(12):
            for _ in range(5):
                journal.append("readings", READING)
            assert journal.flush(30)
    finally:
        journal.close()
    assert len(told) == 12 and told[-1][0] == 60
    assert all(seq <= reserved for seq, reserved in told), told
    assert len({reserved for _, reserved in told}) > 3  # raised again and again, a block at a time
    assert stored(path) is None  # a clean close leaves none


def test_after_a_clean_close_or_a_killed_process_seqs_go_on_right_above_the_last_row(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as journal:
        last = [journal.append("readings", READING) for _ in range(5)][-1]
    with Journal(path, commit_interval_s=0.05) as journal:
        assert journal.append("readings", READING) == last + 1

    killed = f"""
from radsurvey.daemon.journal import Journal
j = Journal({str(path)!r}, commit_interval_s=0.05)
for _ in range(5):
    seq = j.append("readings", {READING!r})
assert j.flush(30)
print(seq, flush=True)
import os; os._exit(9)  # killed: no close, the kernel keeps every commit
"""
    out = subprocess.run([sys.executable, "-c", killed], capture_output=True, text=True, timeout=60)
    top = int(out.stdout.strip())
    left = stored(path)
    assert left is not None and left[0] >= top and left[1] == schema.current_boot()
    with Journal(path, commit_interval_s=0.05) as journal:
        assert journal.append("readings", READING) == top + 1  # same boot: nothing was lost, no gap


def test_after_a_power_cut_seqs_go_on_above_every_seq_that_may_have_been_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, commit_interval_s=0.05)
    seqs = [journal.append("readings", READING) for _ in range(20)]
    assert journal.flush(30)
    published = seqs[-1]  # a sink was told of every one
    journal._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal._closed = True  # the power goes: no close
    journal._queue.put(writer._STOP)
    journal._thread.join(30)
    journal._conn.close()
    # What the card holds after the cut: the last 10 commits' rows never reached it; the reservation did (fsynced).
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM reading_rows WHERE seq > 10")
    conn.execute("UPDATE seq_reserved SET boot = 'an-earlier-boot'")
    conn.commit()
    conn.close()
    reserved = stored(path)
    assert reserved is not None and reserved[0] >= published

    assert recovery.readable_max_seq(path) == reserved[0]  # a fresh journal after damage starts above it too
    with Journal(path, commit_interval_s=0.05) as again:
        first = again.append("readings", READING)
    assert first == reserved[0] + 1 and first > published  # 11..20 were published: never given out again
    said = capsys.readouterr()
    assert "the machine has restarted since (a power cut?)" in said.out + said.err  # (wherever logging goes)
