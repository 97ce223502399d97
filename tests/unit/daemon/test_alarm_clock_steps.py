"""Issue 21 §2: a step of the wall clock neither clears nor delays an alarm, and is itself recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_a_week_long_twa_tied_to_an_occupancy_schedule_averages_the_occupied_hours_only() -> None:
    # Issue 21 §3: 30 beam-hours a week at 10 uSv/h (mon-fri 08:00-14:00) average 10 over those hours,
    # where a mean over every hour of the week would say 10 * 30 / 168 = 1.79.
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from radsurvey.config.alarms import parse_weekly_hours
    from radsurvey.daemon.alarms.engine import TimeWeightedWindow, WeeklySchedule

    monday = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    week = 7 * 86400.0
    schedule = WeeklySchedule(parse_weekly_hours("mon-fri 08:00-14:00"), ZoneInfo("UTC"))
    tied = TimeWeightedWindow(week, max_gap_s=600, schedule=schedule)
    every_hour = TimeWeightedWindow(week, max_gap_s=600)
    for i in range(7 * 144 + 1):
        t = monday + i * 600
        value = 10.0 if schedule.occupied_s(t - 600, t) == 600 else 0.0
        tied.add(t, value)
        every_hour.add(t, value)
    end = monday + week
    assert tied.mean(end) == pytest.approx(10.0)
    assert every_hour.mean(end) == pytest.approx(10.0 * 30 / 168)
