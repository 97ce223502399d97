"""Alarm transitions and meter faults are committed at once, whatever the commit interval; samples may wait."""

from __future__ import annotations

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
