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


def test_a_channels_plausible_range_comes_from_config_then_the_meters_model_then_our_ceiling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from radsurvey.daemon.pipeline import implausible, plausible_range
    from radsurvey.drivers import models

    cfg = channel().cfg
    assert plausible_range(cfg, "gmc", "GMC-320Re 4.26") == (0.0, 1e7, "radsurvey's default ceiling")
    # A model whose table gives its range maximum (none of the shipped tables does yet).
    known = models.InstrumentModel(
        driver="gmc", model="GMC-test", identity_prefixes=("GMC-test",), detector="GM tube",
        detector_kind=models.DetectorKind.GM_TUBE, energy_min_keV=None, energy_max_keV=None,
        dose_rate_uSv_h_min=0.01, dose_rate_uSv_h_max=1000.0, pulsed_field_ok=False, source="its manual",
    )  # fmt: skip
    monkeypatch.setattr(models, "models_of", lambda driver: (known,))
    assert plausible_range(cfg, "gmc", "GMC-test v1") == (0.0, 1000.0, "the range of GMC-test (its manual)")
    own = channel(plausible_uSv_h=(0.0, 50.0)).cfg
    assert plausible_range(own, "gmc", "GMC-test v1") == (0.0, 50.0, "channels[c1].plausible_uSv_h")
    lo, hi, source = plausible_range(own, None, None)
    assert implausible(reading(49.0), lo, hi, source) is None
    why = implausible(reading(51.0), lo, hi, source)
    assert why == "51 uGy/h is outside the plausible 0-50 (channels[c1].plausible_uSv_h)"
    assert implausible(reading(-0.001), lo, hi, source) is not None
    assert implausible(reading(float("nan")), lo, hi, source) is not None
    assert implausible(reading(1e300, unit="cpm"), lo, hi, source) is None  # counts: not judged as a dose rate


@pytest.mark.parametrize("bad", [(-1.0, 5.0), (5.0, 5.0), (0.0, float("inf"))])
def test_a_plausible_range_must_be_a_finite_min_below_max(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError, match="0 <= min < max"):
        channel(plausible_uSv_h=bad)
