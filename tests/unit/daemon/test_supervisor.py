"""The supervisor runs meters into the journal and stops cleanly on request."""

from __future__ import annotations

import asyncio
from pathlib import Path

from radsurvey.config import parse_config
from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.supervisor import Daemon


def config(tmp_path: Path):
    return parse_config(
        {
            "site": {"id": "t"},
            "journal": {"path": str(tmp_path / "j.sqlite"), "commit_interval_s": 0.05},
            "meters": [
                {"id": "a", "driver": "simulated", "poll_interval_s": 0.02, "seed": 1},
                {"id": "b", "driver": "simulated", "poll_interval_s": 0.02, "seed": 2},
            ],
            "channels": [
                {"id": "a1", "meter": "a", "room_category": 1},
                {"id": "a2", "meter": "a", "room_category": 3},
                {"id": "b1", "meter": "b", "room_category": 7},
            ],
        },
        environ={},
    )


async def test_every_reading_of_every_meter_reaches_its_channels_and_the_journal(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    journal = Journal(cfg.journal.path, commit_interval_s=0.05)
    daemon = Daemon(cfg, journal)
    seen: list[str] = []
    daemon.observers.samples.append(lambda s: seen.append(s.channel))
    asyncio.get_running_loop().call_later(0.5, daemon.stop_event.set)
    await asyncio.wait_for(daemon.run(), 10)
    journal.close()
    stats = jr.stats(cfg.journal.path)
    readings = stats["tables"]["readings"]["rows"]
    assert readings == daemon.readings_seen >= 10
    # meter a feeds two channels, b one: 2 samples per a-reading, 1 per b-reading
    assert stats["tables"]["samples"]["rows"] == len(seen)
    assert seen.count("a1") == seen.count("a2") > 0 and seen.count("b1") > 0
    assert stats["tables"]["meter_events"]["rows"] == 4  # connecting + connected for each meter
    assert stats["last_run"]["clean"] == 1


async def test_a_task_meeting_a_damaged_page_stops_the_daemon_as_damage_not_as_a_crash(tmp_path: Path) -> None:
    """Issue 24 §1: SQLITE_CORRUPT from a read at run time takes the damaged-journal path (cli/run.py)."""
    from radsurvey.daemon.journal import connect, recovery
    from tests.unit.daemon.test_journal_recovery import damage_a_leaf_of, filled

    path, _ = filled(tmp_path)
    damage_a_leaf_of(path, "reading_rows")
    cfg = config(tmp_path)
    journal = Journal(path, commit_interval_s=0.05, full_check_at_open_max_mb=0)  # no full check at open

    class Reader:  # a service reading every reading, as a sink's replay or the alarms' restore does
        name = "reader"

        async def run(self, daemon: Daemon) -> None:
            conn = connect(daemon.journal.path, readonly=True)
            try:
                await asyncio.to_thread(lambda: conn.execute("SELECT * FROM readings").fetchall())
            finally:
                conn.close()

    found: list[recovery.JournalDamaged] = []
    journal.add_damage_listener(found.append)
    daemon = Daemon(cfg, journal, services=[Reader()])
    await asyncio.wait_for(daemon.run(), 30)  # returns: no ExceptionGroup
    journal.close()
    [err] = found
    assert journal.damage is err and "malformed" in str(err) and "radsurvey journal recover" in str(err)
