"""Unit conversions: pure functions with stated factors."""

from __future__ import annotations

import math

import pytest

from radsurvey.drivers import units


def test_cpm_to_uSv_h_divides_by_sensitivity() -> None:
    assert units.cpm_to_uSv_h(307.6, 153.8) == pytest.approx(2.0)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_cpm_to_uSv_h_rejects_impossible_sensitivity(bad: float) -> None:
    with pytest.raises(ValueError):
        units.cpm_to_uSv_h(100, bad)


def test_dead_time_is_non_paralysable() -> None:
    corrected, factor, capped = units.dead_time_correct(60_000, 1e-4)  # 1000 cps, m*tau = 0.1
    assert factor == pytest.approx(1 / 0.9)
    assert corrected == pytest.approx(60_000 / 0.9)
    assert not capped


def test_dead_time_factor_is_capped_when_the_tube_saturates() -> None:
    corrected, factor, capped = units.dead_time_correct(600_000, 1e-3)  # m*tau = 10
    assert capped and factor == units.DEAD_TIME_MAX_FACTOR
    assert corrected == 600_000 * units.DEAD_TIME_MAX_FACTOR


def test_zero_dead_time_changes_nothing() -> None:
    assert units.dead_time_correct(1234, 0.0) == (1234, 1.0, False)


@pytest.mark.parametrize(
    ("unit", "base", "factor"), [("nA", "A", 1e-9), ("pA", "A", 1e-12), ("mA", "A", 1e-3), ("A", "A", 1.0)]
)
def test_si_prefixes(unit: str, base: str, factor: float) -> None:
    assert units.split_si(unit, base) == factor


def test_unknown_si_prefix_is_an_error() -> None:
    with pytest.raises(ValueError):
        units.split_si("xA", "A")


def test_legacy_units_use_stated_factors() -> None:
    assert units.to_unit(1.0, "mR/h", "uGy/h") == (8.76, 8.76, "1 mR = 8.76 uGy air kerma")
    value, factor, note = units.to_unit(2.0, "mrem/h", "uSv/h")
    assert (value, factor) == (20.0, 10.0) and "10 uSv" in note


def test_sievert_is_not_silently_turned_into_gray() -> None:
    with pytest.raises(ValueError):
        units.to_unit(1.0, "uSv/h", "uGy/h")


def test_si_prefixed_dose_rates() -> None:
    assert units.to_unit(3.0, "nGy/h", "uGy/h")[0] == pytest.approx(0.003)
    assert units.to_unit(3.0, "mSv/h", "uSv/h")[0] == pytest.approx(3000.0)


@pytest.mark.parametrize("unit", ["cpm", "CPS", "uSv/h", "µSv/hr", "nGy/h", "Sv/h", "mR/h", "urem/h"])
def test_check_unit_accepts_what_readings_can_be_made_from(unit: str) -> None:
    assert units.check_unit(unit) == unit


def test_check_unit_names_the_unit_and_lists_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown unit 'furlongs'; accepted units: cpm, cps, .*uSv/h.*mR/h"):
        units.check_unit("furlongs")


def test_currents_are_units_only_where_asked_for() -> None:
    assert units.check_unit("pA", currents=True) == "pA"
    with pytest.raises(ValueError, match=r"unknown unit 'pA'") as err:
        units.check_unit("pA")
    assert "pA" not in str(err.value).partition("accepted")[2]
