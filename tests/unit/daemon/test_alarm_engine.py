"""The alarm rule maths on synthetic series: crossing times, hysteresis, delays, latching."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import TypeAdapter, ValidationError

from radsurvey.config.alarms import AlarmRule
from radsurvey.daemon.alarms.engine import (
    CategoryLimits,
    DoseBudget,
    MachineState,
    Observations,
    Rule,
    State,
    StateMachine,
    TimeWeightedWindow,
)

CAT1 = CategoryLimits(dmd_uSv_h=13.0, dose_limit_mSv=20.0, occupancy_factor=1.0)
CAT5 = CategoryLimits(dmd_uSv_h=1.3, dose_limit_mSv=1.0, occupancy_factor=0.25)


def rule(limits: CategoryLimits = CAT1, **cfg: object) -> Rule:
    return Rule("ch1", TypeAdapter(AlarmRule).validate_python(cfg), limits)


def run(r: Rule, series: list[tuple[float, float]]) -> list[tuple[float, str]]:
    """Feed (t, E) samples; the (t, state) of every transition."""
    out = []
    for t, e in series:
        r.add_sample(t, e)
        ev = r.evaluate(t)
        if ev is not None:
            out.append((t, ev.state.value))
    return out


def steps(*pieces: tuple[float, float, float], dt: float = 1.0) -> list[tuple[float, float]]:
    """Samples every dt from each (start, end, value) piece, end exclusive."""
    out = []
    for start, end, value in pieces:
        t = start
        while t < end - 1e-9:
            out.append((t, value))
            t += dt
    return out


# -- state machine ---------------------------------------------------------------------------


def test_machine_rises_at_the_exact_sample_that_crosses_each_threshold() -> None:
    m = StateMachine(level=10, warning_fraction=0.5)
    assert m.update(0, 4.9) is None
    assert m.update(1, 5.0) == State.WARNING
    assert m.update(2, 9.99) is None
    assert m.update(3, 10.0) == State.ALARM
    assert m.s.since == 3


def test_hysteresis_holds_a_state_until_the_value_falls_below_the_band() -> None:
    m = StateMachine(level=10, warning_fraction=0.5, hysteresis_fraction=0.1)
    m.update(0, 12)
    assert m.update(1, 9.5) is None  # above 9.0: still alarm
    assert m.update(2, 8.99) == State.WARNING
    assert m.update(3, 4.6) is None  # above 4.5: still warning
    assert m.update(4, 4.49) == State.NORMAL


def test_on_delay_requires_the_condition_to_hold_continuously() -> None:
    m = StateMachine(level=10, on_delay_s=5)
    assert m.update(0, 11) is None
    assert m.update(3, 8) is None  # interrupted: the timer restarts
    assert m.update(4, 11) is None
    assert m.update(8.9, 11) is None
    assert m.update(9, 11) == State.ALARM  # 4 + 5


def test_off_delay_keeps_the_alarm_until_the_value_stayed_low_long_enough() -> None:
    m = StateMachine(level=10, off_delay_s=10)
    m.update(0, 11)
    assert m.update(1, 1) is None
    assert m.update(10.5, 1) is None
    assert m.update(11, 1) == State.NORMAL


def test_delay_expiry_is_seen_by_a_tick_without_a_new_value() -> None:
    m = StateMachine(level=10, on_delay_s=5)
    m.update(0, 11)
    assert m.update(4, None) is None
    assert m.update(5, None) == State.ALARM


def test_latching_alarm_stays_until_acknowledged_then_clears() -> None:
    m = StateMachine(level=10, warning_fraction=0.5, latching=True)
    m.update(0, 11)
    assert m.update(1, 0) is None
    assert m.s.state == State.ALARM and m.s.latched
    ok, _ = m.acknowledge(5, "alice")
    assert ok and m.s.state == State.NORMAL and m.s.since == 5
    assert m.s.acknowledged_by == "alice"


def test_acknowledging_a_latched_alarm_while_high_releases_the_latch_only() -> None:
    m = StateMachine(level=10, latching=True)
    m.update(0, 11)
    m.acknowledge(1, "bob")
    assert m.s.state == State.ALARM and m.s.acknowledged and not m.s.latched
    assert m.update(2, 0) == State.NORMAL
    assert not m.s.acknowledged


def test_an_alarm_acknowledged_while_high_stays_acknowledged_through_more_high_samples() -> None:
    m = StateMachine(level=10, latching=True)
    m.update(0, 11)
    m.acknowledge(1, "bob")
    assert m.update(2, 12) is None  # still the same episode: not latched again
    assert m.s.state == State.ALARM and m.s.acknowledged and not m.s.latched
    assert m.update(3, 0) == State.NORMAL
    assert not m.s.latched and not m.s.acknowledged


def test_a_new_rising_edge_after_an_acknowledged_episode_latches_again() -> None:
    m = StateMachine(level=10, latching=True)
    m.update(0, 11)
    m.acknowledge(1, "bob")
    m.update(2, 12)
    m.update(3, 0)
    assert m.update(4, 11) == State.ALARM
    assert m.s.latched and not m.s.acknowledged
    assert m.update(5, 0) is None  # held by the new latch


def test_a_restored_acknowledged_alarm_does_not_latch_again_while_the_value_stays_high() -> None:
    m = StateMachine(level=10, latching=True)
    m.restore(MachineState(state=State.ALARM, since=100, acknowledged=True, acknowledged_by="bob"))
    assert m.update(200, 12) is None and not m.s.latched
    assert m.update(201, 0) == State.NORMAL


def test_a_new_rise_clears_the_previous_acknowledgement() -> None:
    m = StateMachine(level=10, warning_fraction=0.5)
    m.update(0, 6)
    m.acknowledge(1, "bob")
    assert m.update(2, 11) == State.ALARM
    assert not m.s.acknowledged


def test_acknowledging_normal_is_refused() -> None:
    ok, reason = StateMachine(level=1).acknowledge(0, "x")
    assert not ok and "normal" in reason


def test_restore_keeps_a_latched_alarm_latched() -> None:
    m = StateMachine(level=10, latching=True)
    m.restore(MachineState(state=State.ALARM, since=100, latched=True))
    assert m.update(200, 0) is None
    assert m.s.state == State.ALARM and m.s.since == 100


def test_restore_of_an_unlatched_alarm_clears_when_the_value_is_low() -> None:
    m = StateMachine(level=10)
    m.restore(MachineState(state=State.ALARM, since=100))
    assert m.update(200, 0) == State.NORMAL


# -- measures -----------------------------------------------------------------------------------


def test_time_weighted_mean_weights_samples_by_the_time_they_cover() -> None:
    w = TimeWeightedWindow(100, max_gap_s=1000)
    w.add(0, 0)
    w.add(10, 1.0)  # covers (0, 10]
    w.add(40, 4.0)  # covers (10, 40]
    assert w.mean(40) == pytest.approx((10 * 1 + 30 * 4) / 40)


def test_time_weighted_mean_clips_the_window_edge_exactly() -> None:
    w = TimeWeightedWindow(10, max_gap_s=1000)
    w.add(0, 0)
    w.add(20, 2.0)  # covers (0, 20]
    w.add(25, 8.0)  # covers (20, 25]
    assert w.mean(25) == pytest.approx((5 * 2 + 5 * 8) / 10)
    assert w.mean(30) == pytest.approx(8.0)  # only (20, 25] is left in (20, 30]
    assert w.mean(36) is None


def test_gaps_longer_than_max_gap_are_no_data() -> None:
    w = TimeWeightedWindow(1000, max_gap_s=5)
    w.add(0, 0)
    w.add(100, 10.0)  # stands for (95, 100] only
    assert w.coverage(100) == pytest.approx(5)
    assert w.mean(100) == pytest.approx(10.0)


def test_min_coverage_withholds_the_mean_until_enough_of_the_window_is_measured() -> None:
    w = TimeWeightedWindow(100, max_gap_s=10, min_coverage=0.5)
    for t in range(0, 50):
        w.add(t, 1.0)
    assert w.mean(49) is None
    w.add(50, 1.0)
    assert w.mean(50) == pytest.approx(1.0)


def test_dose_budget_projects_the_periods_dose_to_the_whole_year() -> None:
    # 2026 has 365 days: 1 uSv/h measured for an hour projects to 8760 uSv.
    t0 = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    b = DoseBudget("year", max_gap_s=120, min_elapsed_s=0)
    for i in range(0, 3601, 60):
        b.add(t0 + i, 1.0)  # 1 uSv/h for an hour
    assert b.projected_mSv() == pytest.approx(8.76)
    assert b.s is not None and b.s.dose_uSv == pytest.approx(1.0)


def test_dose_budget_starts_again_on_the_first_of_january() -> None:
    b = DoseBudget("year", max_gap_s=120, min_elapsed_s=0)
    end = datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    for t in (end - 120, end - 60, end + 60, end + 120):
        b.add(t, 5.0 if t < end else 1.0)
    assert b.s is not None and b.s.period_start == end
    assert b.s.covered_s == pytest.approx(120)
    assert b.projected_mSv() == pytest.approx(8.76)  # 1 uSv/h over 2027's 8760 h


def test_dose_budget_state_of_another_start_date_is_started_afresh() -> None:
    from radsurvey.daemon.alarms.engine import DoseBudgetState

    start = date(2026, 3, 2)
    t0 = datetime(2026, 3, 2, tzinfo=UTC).timestamp()
    b = DoseBudget(start, max_gap_s=120, min_elapsed_s=0)
    b.s = DoseBudgetState(period_start=t0 - 86400, dose_uSv=50.0, covered_s=3600.0, last_t=t0 + 10)
    b.add(t0 + 70, 1.0)
    assert b.s.period_start == t0 and b.s.dose_uSv == pytest.approx(60 / 3600)


def test_dose_budget_ignores_samples_before_a_configured_start() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    b = DoseBudget(date(2026, 6, 1), max_gap_s=1000, min_elapsed_s=0)
    b.add(start - 600, 100.0)
    b.add(start + 300, 2.0)  # counts only (start, start+300]
    assert b.s is not None and b.s.covered_s == pytest.approx(300)
    assert b.projected_mSv() == pytest.approx(2.0 * 8760 / 1000)


# -- rules ---------------------------------------------------------------------------------------


def test_twa_warns_at_half_dmd_and_alarms_at_dmd_at_the_exact_seconds() -> None:
    # category 1: DMD_E 13. 1 h window, 1 Hz; background 0 for an hour, then 26 uSv/h.
    r = rule(kind="twa")
    series = steps((0, 3600, 0.0), (3600, 7200, 26.0))
    got = run(r, series)
    # A sample is the mean over the second that ends at its time, so the exposure
    # covers (3599, t]: mean = 26 * (t - 3599) / 3600 -> 6.5 at x = 900 s, 13 at x = 1800 s.
    assert got == [(3599 + 900, "warning"), (3599 + 1800, "alarm")]


def test_twa_with_a_short_window_clears_through_warning_after_the_exposure() -> None:
    r = rule(kind="twa", window_s=100, hysteresis_fraction=0.0)
    got = run(r, steps((0, 100, 0.0), (100, 200, 26.0), (200, 400, 0.0)))
    # exposure covers (99, 199]; rising: 26 x (t - 99) / 100; falling: 26 x (299 - t) / 100
    assert got == [(124, "warning"), (149, "alarm"), (250, "warning"), (275, "normal")]


def test_instant_rule_uses_its_user_level_and_on_delay() -> None:
    r = rule(kind="instant", level_uSv_h=50, window_s=10, on_delay_s=3, warning_fraction=0)
    got = run(r, steps((0, 20, 0.0), (20, 40, 100.0), (40, 80, 0.0)))
    # exposure covers (19, 39]; the mean of (t-10, t] reaches 50 at t=24, held 3 s -> 27;
    # it falls below 45 (10 % hysteresis) when 10 x (49 - t) < 45, first at t=45.
    assert got == [(27, "alarm"), (45, "normal")]


def test_instant_rule_requires_a_level() -> None:
    with pytest.raises(ValidationError):
        rule(kind="instant")


def test_dose_budget_rule_warns_at_30_percent_of_the_category_limit() -> None:
    # category 5: 1 mSv/year; 2026 has 8760 h -> projected = mean E x 8.76 (mSv per uSv/h)
    t0 = datetime(2026, 1, 10, tzinfo=UTC).timestamp()
    r = rule(CAT5, kind="dose_budget", min_elapsed_s=0, hysteresis_fraction=0)
    got = run(r, [(t0 + i * 60, e) for i, e in enumerate([0.0, 0.035, 0.035, 0.1, 0.1, 0.1])])
    # means after each sample: 0.035, 0.035, 0.0567, 0.0675, 0.074 -> x8.76: 0.307 (warn), ..., 0.648
    assert [s for _, s in got] == ["warning"]
    assert got[0][0] == t0 + 60
    assert r.measure(t0) == pytest.approx(0.074 * 8.76)


def test_latching_twa_alarm_stays_after_the_exposure() -> None:
    r = rule(kind="twa", window_s=100, latching=True, warning_fraction=0)
    got = run(r, steps((0, 100, 0.0), (100, 200, 26.0), (200, 400, 0.0)))
    assert got == [(149, "alarm")]
    ev, _ = r.acknowledge(400, "carol", "door closed")
    assert ev is not None and ev.state == State.NORMAL and ev.previous == State.ALARM
    assert ev.acknowledged_by == "carol" and ev.comment == "door closed"


def test_equipment_disconnected_becomes_fault_after_its_time() -> None:
    r = rule(kind="equipment", check="disconnected", after_s=30)
    assert r.evaluate(0, Observations(disconnected_s=29)) is None
    ev = r.evaluate(1, Observations(disconnected_s=30))
    assert ev is not None and ev.state == State.FAULT and ev.unit == "s"
    assert r.evaluate(2, Observations(disconnected_s=0)).state == State.NORMAL  # type: ignore[union-attr]


def test_equipment_journal_size_warns_at_its_fraction() -> None:
    r = rule(kind="equipment", check="journal_size", max_bytes=1000, warning_fraction=0.8)
    assert r.evaluate(0, Observations(journal_bytes=800)).state == State.WARNING  # type: ignore[union-attr]
    assert r.evaluate(1, Observations(journal_bytes=1000)).state == State.FAULT  # type: ignore[union-attr]


def test_equipment_checks_that_need_a_limit_say_so() -> None:
    with pytest.raises(ValidationError, match="max_rows"):
        rule(kind="equipment", check="sink_backlog")


def test_rule_names_must_be_unique_per_channel_and_action_is_reserved() -> None:
    from radsurvey.config import parse_config
    from radsurvey.protocols.errors import ConfigError

    base = {"meters": [{"id": "m", "driver": "simulated"}]}
    twice = [{"kind": "instant", "level_uSv_h": 1}, {"kind": "instant", "level_uSv_h": 2}]
    with pytest.raises(ConfigError, match="duplicate rule 'instant'"):
        parse_config({**base, "channels": [{"id": "c", "meter": "m", "room_category": 1, "alarms": twice}]}, environ={})
    reserved = [{"kind": "twa", "id": "action"}]
    with pytest.raises(ConfigError, match="'action' is reserved"):
        parse_config(
            {**base, "channels": [{"id": "c", "meter": "m", "room_category": 1, "alarms": reserved}]}, environ={}
        )
