"""A failing journal commit raises ``journal_write`` at once; the next good commit clears it (issue 12 §5)."""

from __future__ import annotations

from pathlib import Path

from radsurvey.daemon.alarms import store
from tests.alarm_support import T0, Clock, events, feed, make_config, running, until

RULES = [{"kind": "instant", "level_uSv_h": 50}]


async def test_a_failing_commit_is_a_fault_at_once_and_a_good_one_clears_it(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, RULES)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        assert [r["rule"] for r in service.current()] == ["instant"]  # journal_write shows only when failing
        # The journal's own connection refuses writes, as a full or read-only disk does.
        daemon.journal._conn.execute("PRAGMA query_only = ON")
        feed(daemon, clock, T0, T0 + 2, 1.0)
        await until(lambda: any(r["rule"] == "journal_write" and r["state"] == "fault" for r in service.current()), 5)
        assert daemon.journal.last_error is not None
        daemon.journal._conn.execute("PRAGMA query_only = OFF")
        await until(lambda: [r["rule"] for r in service.current()] == ["instant"], 5)
        await daemon.journal.aflush()
    got = [(e["rule"], e["state"]) for e in events(cfg) if e["rule"] == "journal_write"]
    # Both events are journaled once the journal writes again (the fault was held, not dropped).
    assert got == [("journal_write", "fault"), ("journal_write", "normal")]
    assert store.ack_targets(cfg) == {"desk": {"instant", "journal_write", "journal_damaged"}}
