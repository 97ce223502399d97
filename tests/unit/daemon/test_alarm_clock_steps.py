"""Issue 21 §2: a step of the wall clock neither clears nor delays an alarm, and is itself recorded."""

from __future__ import annotations

from pathlib import Path

from radsurvey.daemon.journal import queries
from tests.alarm_support import T0, Clock, events, make_config, running


async def test_a_step_back_of_an_hour_keeps_an_active_fault_and_is_recorded(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "disconnected", "after_s": 30}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        service.tick(T0 + 30)
        assert service.current()[0]["state"] == "fault"
        # (wall, monotonic): the test's clock is both until the step
        assert service.watch_clock(T0 + 30, T0 + 30) == 0.0
        assert service.watch_clock(T0 + 31 - 3600, T0 + 31) == -3600.0  # 1 s passed; the wall clock says -1 h
        service.tick(T0 + 31 - 3600)
        assert service.current()[0]["state"] == "fault"  # still 31 s disconnected, not -3569 s
        assert service.watch_clock(T0 + 32 - 3600, T0 + 32) == 0.0  # a second later: no new step
        await daemon.journal.aflush()
    assert [e["state"] for e in events(cfg)] == ["fault"]
    [step] = queries.stats(cfg.journal.path)["clock_steps"]
    assert step["step_s"] == -3600.0 and step["ts"] == "2026-03-02T07:00:31.000Z"


async def test_a_step_forward_does_not_fire_a_delay_early(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "disconnected", "after_s": 30}])
    clock = Clock(T0)
    async with running(cfg, clock) as (_daemon, service):
        assert service.watch_clock(T0 + 10, T0 + 10) == 0.0
        assert service.watch_clock(T0 + 11 + 3600, T0 + 11) == 3600.0
        service.tick(T0 + 11 + 3600)
        assert service.current()[0]["state"] == "normal"  # 11 s disconnected, not an hour
        service.tick(T0 + 30 + 3600)
        assert service.current()[0]["state"] == "fault"
