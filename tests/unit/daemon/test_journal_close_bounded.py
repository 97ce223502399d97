"""Closing the journal never waits on a disk that does not answer longer than it is told (issue 12 §5)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from structlog.testing import capture_logs

from radsurvey.daemon.journal import Journal


def test_a_writer_stuck_on_the_disk_is_waited_for_only_timeout_s_and_the_rows_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, commit_interval_s=0.05)
    journal.append("meter_events", {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "state": "connected"})
    assert journal.flush(5)
    # Another process holds the database: every write of ours now waits (busy_timeout), as on a hung disk.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        seqs = [
            journal.append("meter_events", {"ts": "2026-01-01T00:00:01.000Z", "meter": "m", "state": "stale"})
            for _ in range(3)
        ]
        time.sleep(0.2)  # the writer is inside its commit, waiting
        with capture_logs() as logs:
            t0 = time.monotonic()
            journal.close(timeout_s=1.0)
            waited = time.monotonic() - t0
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert 0.9 <= waited < 2.0
    (line,) = [e for e in logs if e["event"].startswith("journal writer did not finish")]
    assert (line["first_seq"], line["last_seq"]) == (seqs[0], seqs[-1])
