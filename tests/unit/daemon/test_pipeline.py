"""Channel pipeline: readings become samples with every correction recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from radsurvey.config.schema import ChannelConfig
from radsurvey.daemon.pipeline import ChannelPipeline
from radsurvey.drivers.base import Quantity, Reading, Status

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def reading(value: float, t_s: float = 0.0, unit: str = "uGy/h", status: frozenset[Status] = frozenset()) -> Reading:
    return Reading(
        meter="m1",
        ts=T0 + timedelta(seconds=t_s),
        value=value,
        unit=unit,
        quantity=Quantity.AIR_KERMA_RATE,
        status=status,
    )


def channel(**kw) -> ChannelPipeline:
    base = {"id": "c1", "meter": "m1", "room_category": 2}
    return ChannelPipeline(ChannelConfig(**{**base, **kw}))


def test_formula_4_against_the_category_limit() -> None:
    s = channel(background_uGy_h=0.1).process(reading(4.1), 1)
    assert s is not None
    assert s.net_uGy_h == pytest.approx(4.0)
    assert s.effective_uSv_h == pytest.approx(2.0)
    assert s.limit_uSv_h == 2.5 and s.ratio == pytest.approx(0.8)
    assert s.formula == "4" and s.normalised_uGy_h is None


def test_normalisation_uses_current_and_table_workload() -> None:
    # D / I * W / 1800 with W(radiography) = 1000: 40 / 4 * 1000 / 1800 = 5.5556
    s = channel(anode_current_mA=4, apparatus="radiography").process(reading(40.0), 1)
    assert s is not None
    assert s.normalised_uGy_h == pytest.approx(40 / 4 * 1000 / 1800)
    assert s.effective_uSv_h == pytest.approx(0.5 * 40 / 4 * 1000 / 1800)
    assert any(c["name"] == "normalisation" and c["workload_mA_min_per_week"] == 1000 for c in s.corrections)


def test_rolling_mean_forgets_readings_older_than_the_window() -> None:
    p = channel(averaging_window_s=10)
    p.process(reading(100.0, 0), 1)
    s = p.process(reading(2.0, 5), 2)
    assert s.mean_uGy_h == pytest.approx(51.0) and s.window_n == 2
    s = p.process(reading(4.0, 10.5), 3)
    assert s.mean_uGy_h == pytest.approx(3.0) and s.window_n == 2


def test_below_background_is_clamped_and_flagged() -> None:
    s = channel(background_uGy_h=0.2).process(reading(0.15), 1)
    assert s.net_uGy_h == 0.0 and s.below_background and s.effective_uSv_h == 0.0


def test_compensating_meter_gets_no_background_subtracted() -> None:
    s = channel(background_uGy_h=0.2, background_compensated=True).process(reading(1.0), 1)
    assert s.net_uGy_h == pytest.approx(1.0)


def test_calibration_and_unit_conversions_are_recorded() -> None:
    s = channel(calibration_factor=1.1, sv_per_gy=1.2).process(reading(6.0, unit="mSv/h"), 1)
    # 6 mSv/h = 6000 uSv/h -> /1.2 = 5000 uGy/h -> *1.1 = 5500 uGy/h
    assert s.value_uGy_h == pytest.approx(5500.0)
    names = [c["name"] for c in s.corrections]
    assert names[:3] == ["unit", "h10_to_air_kerma", "calibration"]


def test_faulty_or_stale_readings_make_no_sample() -> None:
    p = channel()
    assert p.process(reading(1.0, status=frozenset({Status.FAULT})), 1) is None
    assert p.process(reading(1.0, status=frozenset({Status.STALE})), 2) is None


def test_count_rate_without_conversion_makes_no_sample() -> None:
    assert channel().process(reading(120.0, unit="cpm"), 1) is None


def test_legacy_units_use_the_stated_factor() -> None:
    s = channel().process(reading(1.0, unit="mR/h"), 1)
    assert s.value_uGy_h == pytest.approx(8.76)
    assert s.corrections[0]["note"] == "1 mR = 8.76 uGy air kerma"
