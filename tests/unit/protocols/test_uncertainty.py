"""The GUM budget of E and the decision rules, against a budget worked out by hand.

Hand-worked example (wall point, formula (3) literal, E = 0.25 * (D80 + 0.5 * D120)):

    W = 1000 mA·min/week, I = 4 mA, so formula (1) multiplies the net rate by
        W / (1800 * I) = 1000 / 7200 = 0.138889
    sensitivities dE/d(net):  c80 = 0.25 * 0.138889 = 0.0347222
                              c120 = 0.125 * 0.138889 = 0.0173611
    readings 80 cm:  5.0, 5.2, 5.4   mean 5.2   s = 0.2   u = 0.2 / sqrt(3) = 0.115470
    readings 120 cm: 3.0, 3.1, 3.2   mean 3.1   s = 0.1   u = 0.1 / sqrt(3) = 0.0577350
    background:      0.10, 0.12, 0.14  mean 0.12  s = 0.02  u = 0.02 / sqrt(3) = 0.0115470
    E = 0.0347222 * (5.2 - 0.12) + 0.0173611 * (3.1 - 0.12) = 0.176389 + 0.0517361 = 0.228125 uSv/h

    budget (contribution |c| * u, uSv/h):
      repeats at 80 cm     0.0347222 * 0.115470            = 0.00400938   (Type A, GUM 4.2.3)
      repeats at 120 cm    0.0173611 * 0.0577350           = 0.00100234   (Type A)
      background           (0.0347222 + 0.0173611) * 0.0115470 = 0.000601407 (Type A)
      instrument ±20 %     0.228125 * 0.20 / sqrt(3)       = 0.0263416    (Type B, rectangular, GUM 4.3.7)
    u_c = sqrt(0.00400938² + 0.00100234² + 0.000601407² + 0.0263416²) = 0.0266706 uSv/h  (GUM 5.1.2)
    U = 2 * u_c = 0.0533412 uSv/h  (k = 2, GUM 6.2.1)
"""

from __future__ import annotations

import math

import pytest

from radsurvey.protocols.uncertainty import decide, point_uncertainty, repeat_statistics

K_NORM = 1000 / (1800 * 4)


def budget():
    return point_uncertainty(
        effective_uSv_h=0.228125,
        readings_by_height={80: [5.0, 5.2, 5.4], 120: [3.0, 3.1, 3.2]},
        sensitivity_by_height={80: 0.25 * K_NORM, 120: 0.125 * K_NORM},
        background_uGy_h=[0.10, 0.12, 0.14],
        instrument_error_percent=20,
    )


def test_repeat_statistics_are_the_mean_the_sample_deviation_and_its_uncertainty_of_the_mean() -> None:
    stats = repeat_statistics([5.0, 5.2, 5.4])
    assert stats.mean == pytest.approx(5.2)
    assert stats.std_dev == pytest.approx(0.2)
    assert stats.std_uncertainty == pytest.approx(0.115470, rel=1e-5)


def test_each_budget_line_matches_the_hand_worked_example() -> None:
    lines = {c.quantity: c for c in budget().components}
    assert lines["repeats@80"].contribution_uSv_h == pytest.approx(0.00400938, rel=1e-5)
    assert lines["repeats@120"].contribution_uSv_h == pytest.approx(0.00100234, rel=1e-5)
    assert lines["background"].contribution_uSv_h == pytest.approx(0.000601407, rel=1e-5)
    assert lines["background"].sensitivity < 0
    assert lines["instrument"].contribution_uSv_h == pytest.approx(0.0263416, rel=1e-5)
    assert lines["instrument"].method == "B"


def test_combined_and_expanded_uncertainty_match_the_hand_worked_example() -> None:
    b = budget()
    assert b.combined_uSv_h == pytest.approx(0.0266706, rel=1e-5)
    assert b.coverage_factor == 2
    assert b.expanded_uSv_h == pytest.approx(0.0533412, rel=1e-5)
    low, high = b.interval_uSv_h
    assert (low, high) == pytest.approx((0.228125 - 0.0533412, 0.228125 + 0.0533412), rel=1e-5)


def test_a_compensating_meter_has_no_background_line() -> None:
    b = point_uncertainty(
        effective_uSv_h=1.0,
        readings_by_height={80: [2.0, 2.0, 2.0]},
        sensitivity_by_height={80: 0.5},
        background_uGy_h=None,
        instrument_error_percent=20,
    )
    assert [c.quantity for c in b.components] == ["repeats@80", "instrument"]
    assert b.combined_uSv_h == pytest.approx(0.2 / math.sqrt(3))


def test_simple_acceptance_passes_at_the_limit_and_flags_an_interval_across_it() -> None:
    d = decide(2.4, 0.3, 2.5, "simple")
    assert d.verdict == "pass" and d.straddles_limit and d.acceptance_limit_uSv_h == 2.5
    assert decide(2.5, 0.3, 2.5, "simple").verdict == "pass"
    assert decide(2.51, 0.3, 2.5, "simple").verdict == "fail"
    assert not decide(1.0, 0.3, 2.5, "simple").straddles_limit


def test_guarded_acceptance_passes_only_below_the_limit_minus_u() -> None:
    d = decide(2.4, 0.3, 2.5, "guarded")
    assert d.verdict == "fail" and d.acceptance_limit_uSv_h == pytest.approx(2.2)
    assert decide(2.2, 0.3, 2.5, "guarded").verdict == "pass"


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown decision rule"):
        decide(1.0, 0.1, 2.5, "lenient")  # type: ignore[arg-type]
