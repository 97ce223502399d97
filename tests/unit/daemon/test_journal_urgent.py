"""Alarm transitions and meter faults are committed at once, whatever the commit interval; samples may wait."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from radsurvey.daemon.journal import Journal

READING = {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "value": 1.0, "unit": "uGy/h", "quantity": "air_kerma_rate"}
ALARM = {
    "ts": "2026-01-01T00:00:01.000Z",
    "channel": "desk",
    "rule": "instant",
    "kind": "instant",
    "event": "change",
    "state": "alarm",
    "previous": "normal",
    "value": 30.0,
    "level": 13.0,
    "unit": "uSv/h",
    "since": "2026-01-01T00:00:01.000Z",
}


def committed_up_to(journal: Journal, seq: int, timeout_s: float = 30.0) -> bool:
    """Wait (bounded) for a commit that includes ``seq``."""
    reached = threading.Event()
    journal.add_commit_listener(lambda top: reached.set() if top >= seq else None)
    if journal.committed_seq >= seq:
        return True
    return reached.wait(timeout_s)


@pytest.mark.parametrize(
    ("table", "row"),
    [
        ("alarm_events", ALARM),
        ("meter_events", {"ts": "2026-01-01T00:00:01.000Z", "meter": "m", "state": "error", "reason": "timeout"}),
        ("meter_events", {"ts": "2026-01-01T00:00:01.000Z", "meter": "m", "state": "disconnected"}),
    ],
)
def test_an_urgent_row_is_committed_at_once_with_every_row_before_it(
    tmp_path: Path, table: str, row: dict[str, Any]
) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=3600)  # samples would wait an hour
    try:
        reading = journal.append("readings", READING)
        assert journal.committed_seq < reading  # waits for the interval
        seq = journal.append(table, row)
        assert committed_up_to(journal, seq), f"{table} {row['state']} was not committed at once"
        assert journal.committed_seq >= reading
    finally:
        journal.close()


def test_a_reading_or_a_connected_meter_waits_for_the_interval(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=3600)
    try:
        journal.append("readings", READING)
        seq = journal.append("meter_events", {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "state": "connected"})
        assert not committed_up_to(journal, seq, timeout_s=0.3)
        assert journal.flush(30) and journal.committed_seq >= seq
    finally:
        journal.close()


def levels_at_commit(journal: Journal, table: str, row: dict[str, Any]) -> list[int]:
    """``PRAGMA synchronous`` inside the transaction that commits ``row`` (a task queued just before it)."""
    seen: list[int] = []
    journal.run_in_writer(lambda conn: seen.append(conn.execute("PRAGMA synchronous").fetchone()[0]))
    seq = journal.append(table, row)
    if table == "readings":
        assert journal.flush(30)  # waits for the interval otherwise
    else:
        assert committed_up_to(journal, seq)
    return seen


def test_an_urgent_commit_is_fsynced_and_a_sample_commit_is_not(tmp_path: Path) -> None:
    # synchronous = NORMAL (1) lets a WAL commit wait for the kernel's writeback; FULL (2) fsyncs it.
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=3600)
    try:
        assert levels_at_commit(journal, "alarm_events", ALARM) == [2]
        assert levels_at_commit(journal, "readings", READING) == [1]  # the flush: not urgent
        assert journal._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # put back after the urgent one
        fault = {"ts": "2026-01-01T00:00:02.000Z", "meter": "m", "state": "stale"}
        assert levels_at_commit(journal, "meter_events", fault) == [2]
    finally:
        journal.close()


def test_a_journal_kept_at_full_stays_full(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=3600, synchronous="full")
    try:
        assert levels_at_commit(journal, "alarm_events", ALARM) == [2]
        assert levels_at_commit(journal, "readings", READING) == [2]
    finally:
        journal.close()


STRACED = """
import sys, threading
from radsurvey.daemon.journal import Journal
sys.path.insert(0, {here!r})
from test_journal_urgent import ALARM, READING, committed_up_to
j = Journal({path!r}, commit_interval_s=0.05)
print("MARK open", flush=True)
seq = j.append("readings", READING)
assert committed_up_to(j, seq)
print("MARK steady", flush=True)
seq = j.append("readings", READING)
assert committed_up_to(j, seq)
print("MARK urgent", flush=True)
seq = j.append("alarm_events", ALARM)
assert committed_up_to(j, seq)
print("MARK done", flush=True)
import os; os._exit(0)  # no close: its checkpoint fsyncs too
"""


def test_strace_sees_the_wal_fsynced_for_the_alarm_and_the_seq_reservation_only(tmp_path: Path) -> None:
    """The kernel's view: fsync/fdatasync of the ``-wal`` file for the first commit (it reserves seqs above
    every seq a sink may publish: schema.SEQ_BLOCK) and the alarm's, none for a steady reading's commit."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (scripts/bootstrap.sh --test installs it)")
    path = tmp_path / "j.sqlite"
    script = STRACED.format(here=str(Path(__file__).parent), path=str(path))
    out = subprocess.run(
        [strace, "-f", "-y", "-e", "trace=fsync,fdatasync,write", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "ptrace" in out.stderr and "Operation not permitted" in out.stderr:
        pytest.skip("this machine does not allow ptrace")
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stderr.splitlines()
    marks = [i for i, line in enumerate(lines) if re.search(r"write\(1\D.*\"MARK (open|steady|urgent|done)", line)]
    assert len(marks) == 4, out.stderr[-2000:]
    wal_syncs = [i for i, line in enumerate(lines) if re.search(r"f(data)?sync\(\d+<[^>]*j\.sqlite-wal>", line)]

    def synced(k: int) -> list[int]:
        return [i for i in wal_syncs if marks[k] < i < marks[k + 1]]

    assert synced(0), "the commit that reserved seqs was not fsynced"
    assert not synced(1), "a steady reading's commit fsynced the WAL: " + lines[synced(1)[0]]
    assert synced(2), "the alarm's commit did not fsync the WAL:\n" + "\n".join(lines[marks[2] : marks[3]])


def test_a_flush_that_does_not_commit_now_waits_for_the_commit_the_interval_brings(tmp_path: Path) -> None:
    """The retention pass's flush (daemon/sinks/hub.py): its task rides in the next timed commit, no extra one."""
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=3600)
    ran: list[int] = []
    try:
        seq = journal.append("readings", READING)
        journal.run_in_writer(lambda conn: ran.append(1))
        assert not journal.flush(0.5, now=False)  # no commit of its own: the interval (an hour) has not passed
        assert journal.committed_seq < seq and not ran
        assert journal.flush(30)  # a forced one commits the row and runs the task
        assert journal.committed_seq >= seq and ran == [1]
    finally:
        journal.close()
    quick = Journal(tmp_path / "q.sqlite", commit_interval_s=0.05)
    try:
        seq = quick.append("readings", READING)
        quick.run_in_writer(lambda conn: ran.append(2))
        assert quick.flush(30, now=False) and quick.committed_seq >= seq and ran == [1, 2]
    finally:
        quick.close()
