"""Evaluation of surveys and the reusable steps of formulas (1)-(4)."""

import pytest

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.evaluation import (
    dmd_for,
    effective_dose_rate,
    evaluate,
    mean_uGy_h,
    net_uGy_h,
    normalise,
    select_formula,
    verdict_for,
    workload_for,
)
from radsurvey.protocols.profiles import get_profile
from radsurvey.protocols.survey import parse_survey

KZ = get_profile("kz-2008-303")
WALL = {"80": [9.1, 8.9, 9.0], "120": [6.1, 5.9, 6.0]}


def evaluated(data):
    return evaluate(parse_survey(data, "survey.json"))


def test_formula3_conservative_option_weights_both_heights_equally(minimal_survey):
    data = minimal_survey(
        options={"formula3": "conservative"},
        point={"kind": "wall", "anode_current_mA": 4, "readings_uGy_h": WALL},
    )
    result = evaluated(data)
    assert result.formula3 == "conservative"
    assert result.points[0].formula == "3"
    assert result.points[0].effective_uSv_h == pytest.approx(0.25 * (8.9 + 5.9) / 7.2)


def test_formula3_variant_given_to_evaluate_overrides_the_file(minimal_survey):
    data = minimal_survey(point={"kind": "wall", "anode_current_mA": 4, "readings_uGy_h": WALL})
    survey = parse_survey(data, "survey.json")
    literal = evaluate(survey).points[0].effective_uSv_h
    conservative = evaluate(survey, formula3="conservative")
    assert conservative.formula3 == "conservative"
    assert conservative.points[0].effective_uSv_h > literal
    assert literal == pytest.approx(0.25 * (8.9 + 0.5 * 5.9) / 7.2)


def test_a_compensating_meter_has_its_readings_used_as_net(minimal_survey):
    result = evaluated(minimal_survey(background_compensated=True, background_uGy_h=[]))
    height = result.points[0].heights[0]
    assert result.background_uGy_h is None
    assert height.net_uGy_h == height.mean_uGy_h == 1.0


def test_background_given_to_a_compensating_meter_is_ignored_with_a_warning(minimal_survey):
    result = evaluated(minimal_survey(background_compensated=True))
    assert result.points[0].heights[0].net_uGy_h == 1.0
    assert "background_uGy_h: ignored, the meter compensates background" in result.warnings


def test_a_mean_below_background_is_clamped_to_zero_and_flagged(minimal_survey):
    data = minimal_survey(background_uGy_h=[0.2, 0.2, 0.2], point={"readings_uGy_h": {"80": [0.1, 0.15, 0.2]}})
    point = evaluated(data).points[0]
    height = point.heights[0]
    assert (height.net_uGy_h, height.normalised_uGy_h, height.below_background) == (0, 0, True)
    assert point.effective_uSv_h == 0
    assert point.verdict == "pass"


def test_a_mean_below_background_is_reported_as_a_warning(minimal_survey):
    data = minimal_survey(background_uGy_h=[0.2, 0.2, 0.2], point={"readings_uGy_h": {"80": [0.1, 0.15, 0.2]}})
    result = evaluated(data)
    assert any("below the background" in w for w in result.points[0].warnings)
    assert any(w.startswith("points[P1].readings_uGy_h.80: mean") for w in result.warnings)


def test_a_mean_above_background_is_not_flagged(minimal_survey):
    assert not evaluated(minimal_survey()).points[0].heights[0].below_background


def test_lithotripsy_uses_the_app6_fallback_workload_with_a_warning(minimal_survey):
    result = evaluated(minimal_survey(apparatus="lithotripsy"))
    assert result.workload_mA_min_per_week == 200
    assert result.workload_source == "App. 6 row 13"
    assert any("'lithotripsy' is a fallback" in w for w in result.warnings)


def test_long_distance_therapy_uses_1200_and_notes_the_12000(minimal_survey):
    result = evaluated(minimal_survey(apparatus="therapy_long_distance"))
    assert result.workload_mA_min_per_week == 1200
    assert any("App. 6 row 17 prints 12000" in w for w in result.warnings)


def test_a_table_workload_without_remarks_gives_no_workload_warning(minimal_survey):
    assert not [w for w in evaluated(minimal_survey()).warnings if "workload" in w]


def test_an_override_workload_is_used_for_an_apparatus_not_in_the_tables(minimal_survey):
    result = evaluated(minimal_survey(apparatus="xray_9000", workload_mA_min_per_week=360))
    assert result.workload_mA_min_per_week == 360
    assert result.workload_source == "survey file (workload_mA_min_per_week)"
    assert result.points[0].heights[0].normalised_uGy_h == pytest.approx(0.9 / 2 * 360 / 1800)
    assert any("'xray_9000' is not in the kz-2008-303 tables" in w for w in result.warnings)


def test_an_override_differing_from_the_table_is_used_with_a_warning(minimal_survey):
    result = evaluated(minimal_survey(workload_mA_min_per_week=500))
    assert result.workload_mA_min_per_week == 500
    assert any("instead of 1000 from App. 14 Table 1 row 3" in w for w in result.warnings)


def test_an_override_equal_to_the_table_keeps_the_table_as_source(minimal_survey):
    result = evaluated(minimal_survey(workload_mA_min_per_week=1000))
    assert result.workload_source == "App. 14 Table 1 row 3"
    assert not result.warnings


def test_readings_outside_the_instruments_declared_range_are_flagged(minimal_survey):
    instrument = {"model": "DR-2", "dose_rate_min_uGy_h": 0.1, "dose_rate_max_uGy_h": 1000}
    data = minimal_survey(point={"readings_uGy_h": {"80": [1200.0, 900.0, 0.05]}}, instruments=[instrument])
    warnings = evaluated(data).points[0].warnings
    assert any(w.startswith("readings_uGy_h.80: 2 of 3 readings outside 0.1-1000") for w in warnings)


def test_a_second_instrument_covering_the_readings_is_enough(minimal_survey):
    low = {"model": "DR-2", "dose_rate_min_uGy_h": 0.01, "dose_rate_max_uGy_h": 100}
    high = {"model": "DR-3", "metadata": None, "dose_rate_min_uGy_h": 1, "dose_rate_max_uGy_h": 10000}
    data = minimal_survey(point={"readings_uGy_h": {"80": [1200.0, 900.0, 0.05]}}, instruments=[low, high])
    assert not [w for w in evaluated(data).points[0].warnings if "outside" in w]


def test_without_a_declared_range_readings_are_not_judged_against_the_regulations_range(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"80": [1200.0, 900.0, 0.05]}})
    assert not [w for w in evaluated(data).points[0].warnings if "outside" in w]


def test_heights_that_do_not_match_the_point_kind_are_flagged(minimal_survey):
    result = evaluated(minimal_survey(point={"kind": "below"}))
    assert result.points[0].warnings == ("kind: 'below' points are measured at 120 cm (App. 14 p.22), got 80 cm",)


def test_a_misspelt_field_is_flagged_instead_of_silently_kept(minimal_survey):
    result = evaluated(minimal_survey(workload_mA_min_per_wek=200))
    assert any("did you mean 'workload_mA_min_per_week'" in w for w in result.warnings)


def test_an_effective_dose_rate_equal_to_the_limit_passes(minimal_survey):
    # formula 4, category 4 (40 uSv/h): E = 0.5 * 144 / 1 * 1000 / 1800 = 40 exactly
    data = minimal_survey(
        background_compensated=True,
        point={"category": 4, "anode_current_mA": 1, "readings_uGy_h": {"80": [144.0] * 3}},
    )
    point = evaluated(data).points[0]
    assert (point.effective_uSv_h, point.limit_uSv_h) == (40, 40)
    assert point.verdict == "pass"


def test_an_effective_dose_rate_just_above_the_limit_fails():
    assert verdict_for(13.000001, 13) == "fail"


def test_the_survey_passes_when_every_point_passes(minimal_survey):
    assert evaluated(minimal_survey()).verdict == "pass"


def test_a_profile_for_another_protocol_is_refused(minimal_survey):
    survey = parse_survey(minimal_survey(), "survey.json")
    other = KZ.model_copy(update={"id": "other-1"})
    with pytest.raises(SurveyError, match="survey is for 'kz-2008-303', not 'other-1'"):
        evaluate(survey, other)


def test_normalise_applies_formula1():
    assert normalise(5, 2, 1000) == pytest.approx(5 / 2 * 1000 / 1800)


@pytest.mark.parametrize("current", [0, -1.0, float("nan")])
def test_normalise_rejects_an_anode_current_that_is_not_positive(current):
    with pytest.raises(SurveyError, match="> 0 mA") as err:
        normalise(1, current, 1000)
    assert err.value.field == "anode_current_mA"


def test_normalise_rejects_a_result_that_overflows():
    with pytest.raises(SurveyError, match="not a finite number"):
        normalise(1e300, 1e-300, 1000)


def test_mean_of_huge_readings_is_exact_not_an_overflow():
    # 0.1 summed in floats overflowed here; the exact mean of three 1e308 is 1e308
    assert mean_uGy_h([1e308, 1e308, 1e308]) == 1e308


@pytest.mark.parametrize("readings", [[1.0, float("inf"), 1.0], [float("inf"), float("-inf")]])
def test_mean_of_non_finite_readings_raises_survey_error(readings):
    with pytest.raises(SurveyError, match="finite"):
        mean_uGy_h(readings)


def test_net_subtracts_the_background():
    assert net_uGy_h(1.5, 0.5) == (1.0, False)


def test_net_without_background_is_the_mean():
    assert net_uGy_h(1.5, None) == (1.5, False)


@pytest.mark.parametrize(
    ("heights", "formula"),
    [({30, 80, 120, 160}, "2"), ({80, 120}, "3"), ({80}, "4"), ({120}, "4"), ({100}, "4")],
)
def test_the_formula_follows_the_heights_present(heights, formula):
    assert select_formula(heights) == formula


def test_effective_dose_rate_formula2_weights_the_four_heights():
    formula, effective = effective_dose_rate({30: 4.0, 80: 2.0, 120: 1.0, 160: 8.0})
    assert formula == "2"
    assert effective == pytest.approx(0.5 * (0.15 * 8 + 0.30 * 1 + 0.50 * 2 + 0.05 * 4))


def test_effective_dose_rate_rejects_two_heights_other_than_80_and_120():
    with pytest.raises(SurveyError, match="unsupported height combination 30/160 cm") as err:
        effective_dose_rate({30: 1.0, 160: 1.0})
    assert err.value.field == "readings_uGy_h"


def test_dmd_for_returns_the_tabulated_limit():
    assert [dmd_for(KZ, n) for n in range(1, 8)] == [13, 2.5, 10, 40, 1.3, 2.8, 0.3]


def test_dmd_for_an_unknown_category_raises_survey_error():
    with pytest.raises(SurveyError, match="unknown room category 0"):
        dmd_for(KZ, 0)


def test_workload_for_returns_the_value_its_source_and_no_warning():
    assert workload_for(KZ, "ct", None) == (400, "App. 14 Table 1 row 8", ())


def test_workload_for_an_unknown_apparatus_without_override_raises():
    with pytest.raises(SurveyError, match="give workload_mA_min_per_week") as err:
        workload_for(KZ, "xray_9000", None)
    assert err.value.field == "apparatus"


def test_the_judged_e_has_one_name_and_the_old_key_only_in_json() -> None:
    from radsurvey.protocols.evaluation import PointEvaluation

    assert "effective_dose_rate_uSv_h" not in PointEvaluation.__dataclass_fields__
    survey = parse_survey(
        {
            "schema": "radsurvey.survey/1",
            "protocol": "kz-2008-303",
            "apparatus": "radiography",
            "background_uGy_h": [0.1, 0.1, 0.1],
            "points": [
                {
                    "id": "A1",
                    "room": "above",
                    "category": 2,
                    "kind": "above",
                    "anode_current_mA": 4,
                    "readings_uGy_h": {"80": [20.0, 20.0, 20.0]},
                }
            ],
        },
        "test",
    )
    (point,) = evaluate(survey).to_dict()["points"]
    assert point["effective_dose_rate_uSv_h"] == point["effective_uSv_h"] == evaluate(survey).points[0].effective_uSv_h


def test_formula_weights_are_the_sensitivities_of_e_to_each_normalised_rate() -> None:
    from fractions import Fraction

    from radsurvey.protocols.formulas import exact_effective, formula_weights
    from radsurvey.protocols.profiles import get_profile

    profile = get_profile("kz-2008-303")
    rates = {30: Fraction(3), 80: Fraction(7), 120: Fraction(5), 160: Fraction(2)}
    for heights, formula in (((30, 80, 120, 160), "2"), ((80, 120), "3"), ((80,), "4")):
        picked = {h: rates[h] for h in heights}
        _, e = exact_effective(picked, "conservative", profile=profile)
        weights = formula_weights(profile, formula, "conservative", heights)
        assert float(e) == pytest.approx(sum(weights[h] * float(picked[h]) for h in heights))
