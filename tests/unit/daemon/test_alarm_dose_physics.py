"""Dose budgets and twa on sound monitor physics (issue 9 §2).

A continuous monitor measures the real dose rate, whose time profile already
carries the real workload: the budget integrates the measured E, projects the
period's dose to the whole period, and only an occupancy schedule with the
App. 7 occupancy factor T makes it the dose of a person present in those hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import TypeAdapter, ValidationError

from radsurvey.config.alarms import AlarmRule, DoseBudgetRule
from radsurvey.daemon.alarms.engine import BASIS, Rule, WeeklySchedule
from radsurvey.daemon.alarms.service import build_rules, category_limits
from tests.alarm_support import T0, Clock, feed, make_config, running

MONDAY = datetime(2026, 3, 2, tzinfo=UTC).timestamp()  # a Monday, 00:00 UTC
HOURS_2026 = 8760


def budget_rule(**cfg: object) -> Rule:
    limits = category_limits("kz-2008-303", 3, "test")
    rule_cfg = TypeAdapter(AlarmRule).validate_python({"kind": "dose_budget", "min_elapsed_s": 0, **cfg})
    return Rule("corridor", rule_cfg, limits)


def beam_weeks(rule: Rule, weeks: int, *, rate_uSv_h: float = 10.0, step_s: int = 60) -> float:
    """Feed ``weeks`` of 30 beam-on hours (Mon-Fri 08:00-14:00 UTC) at ``rate_uSv_h``, 0 otherwise; the end time."""
    t = MONDAY
    end = MONDAY + weeks * 7 * 86400
    while t <= end:
        day, second = divmod(int(t - MONDAY), 86400)
        on = day % 7 < 5 and 8 * 3600 < second <= 14 * 3600
        rule.add_sample(t, rate_uSv_h if on else 0.0)
        t += step_s
    return end


def test_30_beam_hours_a_week_at_10_uSv_h_in_category_3_projects_at_least_15_mSv_never_3_6() -> None:
    r = budget_rule()
    end = beam_weeks(r, 2)
    projected = r.measure(end)
    # 300 uSv a week, a person present whenever radiation is: 300 uSv x 8760 h / 168 h = 15.64 mSv
    assert projected is not None and projected >= 15.0
    assert projected == pytest.approx(300 * HOURS_2026 / 168 / 1000, rel=1e-9)
    assert r.machine.level == 5.0  # category 3's annual limit (App. 14 Table 2 row 3)


def test_an_occupancy_schedule_counts_only_its_hours_times_the_categorys_T() -> None:
    # The same beam; a person in the corridor Mon-Fri 08:00-17:00 local, T = 0.25 (App. 7 row 3).
    r = budget_rule(occupancy={"timezone": "UTC", "hours": ["mon-fri 08:00-17:00"]})
    end = beam_weeks(r, 2)
    assert r.plan is not None and r.plan.occupancy_factor == 0.25 and "App. 7 row 3" in r.plan.occupancy_source
    assert r.measure(end) == pytest.approx(0.25 * 300 * HOURS_2026 / 168 / 1000, rel=1e-9)


def test_a_schedule_in_another_time_zone_misses_the_beam_hours() -> None:
    # Asia/Almaty is UTC+5: 08:00-14:00 UTC is 13:00-19:00 local; a person there 06:00-13:00 local
    # never sees the beam.
    r = budget_rule(occupancy={"timezone": "Asia/Almaty", "hours": ["mon-fri 06:00-13:00"], "occupancy_factor": 1})
    end = beam_weeks(r, 1)
    assert r.measure(end) == 0.0


def test_schedule_hours_follow_daylight_saving_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    s = WeeklySchedule([(6, 0, 1440)], berlin)  # every Sunday, all day, local time
    day = datetime(2026, 3, 29, tzinfo=berlin)  # clocks go forward: the Sunday has 23 hours
    a = day.timestamp() - 3600
    b = (day + timedelta(days=1)).timestamp() + 3600
    assert s.occupied_s(a, b) == 23 * 3600
    assert s.hours_per_week == 24


def test_an_explicit_occupancy_factor_replaces_the_categorys() -> None:
    r = budget_rule(occupancy={"timezone": "UTC", "hours": ["daily 00:00-24:00"], "occupancy_factor": 0.5})
    end = beam_weeks(r, 1)
    assert r.measure(end) == pytest.approx(0.5 * 300 * HOURS_2026 / 168 / 1000, rel=1e-9)


def test_a_rolling_week_budget_judges_the_last_seven_days_against_an_ir_1973_weekly_limit(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "dose_budget", "limit": "ir-1973-limits/outside_week", "min_elapsed_s": 0}])
    r = build_rules(cfg)["desk"][0]
    assert r.plan is not None and r.plan.period == "week" and r.machine.level == 0.3
    assert "001:Art 8" in r.plan.level_source
    end = beam_weeks(r, 3, rate_uSv_h=12.0)
    # 30 h x 12 uSv/h = 0.36 mSv in any 7 days, over 0.3 mSv (10 % of 300 mrem, Art 8 with Art 3(c))
    assert r.measure(end) == pytest.approx(0.36, rel=2e-3)  # bucket resolution at the window's start
    assert r.budget is not None and r.budget.window is not None and r.budget.window.bucket_count <= 1002


def test_a_13_week_budget_extrapolates_the_measured_weeks_to_13() -> None:
    r = budget_rule(period="13_weeks", level_mSv=30)
    end = beam_weeks(r, 2)
    assert r.measure(end) == pytest.approx(0.3 * 13, rel=1e-6)  # 0.3 mSv a week, 13 weeks


def test_a_weekly_period_needs_a_weekly_level() -> None:
    limits = category_limits("kz-2008-303", 3, "test")
    rule_cfg = TypeAdapter(AlarmRule).validate_python({"kind": "dose_budget", "period": "week"})
    with pytest.raises(ValueError, match="week period needs level_mSv or limit"):
        Rule("c", rule_cfg, limits)


def test_hours_per_year_is_refused_with_the_reason() -> None:
    with pytest.raises(ValidationError, match="no longer used"):
        DoseBudgetRule.model_validate({"kind": "dose_budget", "hours_per_year": 2000})


def test_a_schedule_entry_that_runs_backwards_is_refused() -> None:
    with pytest.raises(ValidationError, match="end must be after the start"):
        DoseBudgetRule.model_validate(
            {"kind": "dose_budget", "occupancy": {"timezone": "UTC", "hours": ["mon 17:00-08:00"]}}
        )


def test_the_twa_basis_says_it_is_a_derived_comparison() -> None:
    assert "derived comparison" in BASIS["twa"] and "no regulation" in BASIS["twa"]


async def test_alarms_judge_the_measured_E_not_the_workload_normalised_one(tmp_path: Path) -> None:
    # The channel is set up for a beam-on check at 4 mA with radiography (W = 1000): its samples carry
    # E normalised by W / (I x 1800) = 0.139; the rules must integrate the measured E = 0.5 x D.
    from radsurvey.config import parse_config

    base = make_config(tmp_path, [{"kind": "twa", "window_s": 100}, {"kind": "dose_budget", "min_elapsed_s": 0}])
    raw = base.model_dump(mode="json")
    raw["channels"][0].update(anode_current_mA=4, apparatus="radiography")
    cfg = parse_config(raw, environ={})
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 101, 8.0)  # E measured 8 uSv/h (D = 16 uGy/h)
        sample = daemon.pipelines["desk"].last
        twa = service.by_key[("desk", "twa")].measure(T0 + 101)
        budget = service.by_key[("desk", "dose_budget")].budget
        assert budget is not None and budget.s is not None
        dose = budget.s.dose_uSv
    assert sample is not None and sample.normalised_uGy_h is not None
    assert sample.effective_uSv_h == pytest.approx(8.0 * 1000 / (4 * 1800))  # labelled normalisation, kept
    assert twa == pytest.approx(8.0)
    assert dose == pytest.approx(8.0 * 100 / 3600)


def test_the_year_budget_of_a_leap_year_projects_over_8784_hours() -> None:
    r = budget_rule(start=date(2028, 1, 1))
    t0 = datetime(2028, 1, 1, tzinfo=UTC).timestamp()
    for i in range(0, 3601, 60):
        r.add_sample(t0 + i, 1.0)
    assert r.measure(t0 + 3600) == pytest.approx(8.784)


async def test_a_rolling_week_budget_is_rebuilt_from_the_journal_at_restart(tmp_path: Path) -> None:
    rules = [{"kind": "dose_budget", "period": "week", "level_mSv": 1, "min_elapsed_s": 0}]
    cfg = make_config(tmp_path, rules)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 200, 5.0)
        feed(daemon, clock, T0 + 200, T0 + 300, 0.0)
        uninterrupted = service.by_key[("desk", "dose_budget")].measure(T0 + 300)
        await daemon.journal.aflush()
    async with running(cfg, clock) as (_, service):
        restored = service.by_key[("desk", "dose_budget")].measure(T0 + 300)
    # 199 s at 5 uSv/h in 299 s measured, extrapolated to 7 days
    assert uninterrupted == pytest.approx(5.0 * 199 / 3600 / 299 * 7 * 86400 / 1000)
    assert restored == pytest.approx(uninterrupted, rel=1e-12)


async def test_a_scheduled_year_budget_keeps_its_counted_dose_across_a_restart(tmp_path: Path) -> None:
    # T0 is Monday 08:00 UTC; the person is there from 08:02 on: only the dose after that counts.
    occupancy = {"timezone": "UTC", "hours": ["mon 08:02-09:00"], "occupancy_factor": 1}
    cfg = make_config(tmp_path, [{"kind": "dose_budget", "min_elapsed_s": 0, "occupancy": occupancy}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 300, 6.0)
        service.save_snapshots()
        feed(daemon, clock, T0 + 300, T0 + 400, 6.0)
        budget = service.by_key[("desk", "dose_budget")].budget
        assert budget is not None and budget.s is not None
        dose = budget.s.dose_uSv
        await daemon.journal.aflush()
    assert dose == pytest.approx(6.0 * (400 - 120) / 3600)
    async with running(cfg, clock) as (_, service):
        restored = service.by_key[("desk", "dose_budget")].budget
        assert restored is not None and restored.s is not None
        assert restored.s.dose_uSv == pytest.approx(dose, rel=1e-12)
