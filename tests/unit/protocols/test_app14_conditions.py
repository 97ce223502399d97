"""What App. 14 says beyond the formulas: height bands (p.21), exact verdicts (p.30),
beam conditions (p.15), the design attenuation factor of dental rooms next to dwellings (p.25).

Numbers are worked by hand from App. 14 (kz-2008-303, ../shared/domain/kz-2008-303.md §1.3-1.6).
"""

import json
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.evaluation import evaluate
from radsurvey.protocols.profiles import get_profile
from radsurvey.protocols.survey import parse_survey

KZ = get_profile("kz-2008-303")


def evaluated(data, **kwargs):
    return evaluate(parse_survey(data, "survey.json"), **kwargs)


def workplace(readings, **point):
    return {"kind": "workplace", "category": 1, "anode_current_mA": 4, "readings_uGy_h": readings, **point}


# -- p.21: heights within +-20 cm of the nominal ones ---------------------------------------


def test_a_workplace_measured_at_40_90_130_170_cm_is_evaluated_on_30_80_120_160(minimal_survey):
    in_band = {"40": [2.0] * 3, "90": [6.0] * 3, "130": [3.0] * 3, "170": [1.0] * 3}
    nominal = {"30": [2.0] * 3, "80": [6.0] * 3, "120": [3.0] * 3, "160": [1.0] * 3}
    shifted = evaluated(minimal_survey(point=workplace(in_band)))
    exact = evaluated(minimal_survey(point=workplace(nominal)))
    point = shifted.points[0]
    assert point.formula == "2"
    assert [(h.height_cm, h.nominal_height_cm) for h in point.heights] == [(40, 30), (90, 80), (130, 120), (170, 160)]
    assert point.effective_uSv_h == exact.points[0].effective_uSv_h
    assert not [w for w in point.warnings if w.code == "kind_heights"]
    document = shifted.to_dict()["points"][0]["heights"]
    assert document["90"]["height_cm"] == 90 and document["90"]["nominal_height_cm"] == 80


def test_band_edges_are_inclusive(minimal_survey):
    readings = {"10": [1.0] * 3, "60": [1.0] * 3, "120": [1.0] * 3, "180": [1.0] * 3}
    point = evaluated(minimal_survey(point=workplace(readings))).points[0]
    assert [h.nominal_height_cm for h in point.heights] == [30, 80, 120, 160]


def test_a_wall_point_at_75_and_125_cm_uses_formula3(minimal_survey):
    readings = {"75": [9.0] * 3, "125": [6.0] * 3}
    point = evaluated(minimal_survey(point={"kind": "wall", "readings_uGy_h": readings})).points[0]
    assert point.formula == "3"
    assert [h.nominal_height_cm for h in point.heights] == [80, 120]


def test_a_territory_point_at_one_free_height_keeps_it(minimal_survey):
    data = minimal_survey(point={"kind": "territory", "category": 6, "readings_uGy_h": {"100": [1.0] * 3}})
    point = evaluated(data).points[0]
    assert (point.formula, point.heights[0].height_cm, point.heights[0].nominal_height_cm) == ("4", 100, 100)


def test_a_point_above_at_100_cm_is_refused_naming_both_bands(minimal_survey):
    with pytest.raises(SurveyError) as caught:
        parse_survey(minimal_survey(point={"kind": "above", "readings_uGy_h": {"100": [1.0] * 3}}), "s.json")
    assert str(caught.value) == (
        "s.json: points[P1].readings_uGy_h.100: height 100 cm lies in two bands, 80 cm (60-100 cm) and"
        " 120 cm (100-140 cm) (±20 cm, App. 14 p.21: printed '30 + 20' etc.; read as +-20 cm (sign lost in"
        " the source)); measure inside one band"
    )


# -- p.30: a result equal to DMD_E passes, judged exactly ---------------------------------------


def test_radiography_at_3_mA_and_140_4_uGy_h_gives_exactly_13_and_passes(minimal_survey):
    # 140.4 / 3 * 1000 / 1800 = 26 uGy/h normalised; E = 0.5 * 26 = 13 uSv/h = DMD_E of category 1
    readings = {h: [140.4] * 3 for h in ("30", "80", "120", "160")}
    data = minimal_survey(
        background_compensated=True, background_uGy_h=[], point=workplace(readings, anode_current_mA=3)
    )
    point = evaluated(data).points[0]
    assert point.exact_effective_uSv_h == 13
    assert point.effective_uSv_h == 13.0
    assert (point.limit_uSv_h, point.ratio, point.verdict) == (13, 1.0, "pass")


# Standard workloads whose W / 1800 is a terminating decimal, with their Table 1 keys.
APPARATUS = {"radiography": 1000, "fluorography_scanning": 2000, "ct": 400, "mammography": 200, "dental_digital": 40}


@st.composite
def at_limit_surveys(draw):
    """A survey whose point gives E exactly equal to DMD_E, written with decimals, and that E."""
    apparatus = draw(st.sampled_from(sorted(APPARATUS)))
    category = draw(st.sampled_from(KZ.categories))
    current = Decimal(draw(st.integers(min_value=10, max_value=200))) / 10  # mA, one decimal
    kind, heights = draw(st.sampled_from([("workplace", (30, 80, 120, 160)), ("above", (80,)), ("below", (120,))]))
    limit = Decimal(repr(category.dmd_uSv_h))
    # E = 0.5 * D / I * W / 1800 with the same D at every height  =>  D = 2 * E * I * 1800 / W
    net = 2 * limit * current * 1800 / APPARATUS[apparatus]
    background = Decimal(draw(st.integers(min_value=0, max_value=30))) / 100
    compensated = draw(st.booleans())
    reading = net if compensated else net + background
    readings = {str(h): [float(reading)] * 3 for h in heights}
    point = {
        "id": "P1",
        "room": "room",
        "category": category.number,
        "kind": kind,
        "anode_current_mA": float(current),
        "readings_uGy_h": readings,
    }
    data = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": apparatus,
        "background_compensated": compensated,
        "background_uGy_h": [] if compensated else [float(background)] * 3,
        "points": [point],
    }
    return data, Fraction(limit)


@settings(max_examples=300, deadline=None)
@given(at_limit_surveys())
def test_no_result_equal_to_the_limit_fails(case):
    data, limit = case
    point = evaluated(data).points[0]
    assert point.exact_effective_uSv_h == limit
    assert point.verdict == "pass"
    assert point.ratio == 1.0


@settings(max_examples=200, deadline=None)
@given(at_limit_surveys())
def test_one_hundredth_of_a_microgray_more_fails(case):
    data, limit = case
    for readings in data["points"][0]["readings_uGy_h"].values():
        readings[0] = float(Decimal(repr(readings[0])) + Decimal("0.01"))
    point = evaluated(data).points[0]
    assert point.exact_effective_uSv_h > limit
    assert point.verdict == "fail"


NOISE = re.compile(r"\d\.\d*(?:0{6,}|9{6,})\d")


def test_the_evaluation_document_carries_no_float_noise(worked_example):
    text = json.dumps(evaluated(worked_example()).to_dict())
    assert not NOISE.findall(text), NOISE.findall(text)
    assert '"background_uGy_h": 0.1,' in text  # float sums gave 0.09999999999999999


# -- p.15: beam conditions ------------------------------------------------------------------


def fluoroscopy(current, **top):
    return {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "fluoroscopy",
        "background_compensated": True,
        "points": [
            {
                "id": "F1",
                "room": "procedure room",
                "category": 1,
                "kind": "above",
                "anode_current_mA": current,
                "anode_voltage_kV": 100,
                "readings_uGy_h": {"80": [10.0] * 3},
            }
        ],
        **top,
    }


def p15(result):
    return [w for w in result.warnings if w.paragraph == "p.15"]


def test_fluoroscopy_below_2_mA_is_a_p15_warning():
    (warning,) = p15(evaluated(fluoroscopy(1.5)))
    assert warning.code == "fluoroscopy_current"
    assert warning.field == "points[F1].anode_current_mA"
    assert str(warning).startswith("points[F1].anode_current_mA: 1.5 mA is below the 2 mA App. 14 p.15 requires")


def test_fluoroscopy_at_2_mA_is_fine():
    assert not p15(evaluated(fluoroscopy(2)))


def test_strict_makes_a_p15_condition_an_error():
    with pytest.raises(SurveyError, match=r"points\[F1\]\.anode_current_mA: 1.5 mA .* \(--strict\)"):
        evaluated(fluoroscopy(1.5), strict=True)


def test_an_anode_voltage_off_the_table1_standard_is_a_p15_warning(minimal_survey):
    result = evaluated(minimal_survey(point={"anode_voltage_kV": 90}))
    (warning,) = p15(result)
    assert warning.code == "anode_voltage"
    assert "90 kV differs from the standard 100 kV" in warning
    assert "apparatus_max_voltage_kV" in warning  # below the standard: it may be the apparatus maximum


def test_the_apparatus_maximum_below_the_standard_is_accepted(minimal_survey):
    assert not p15(evaluated(minimal_survey(apparatus_max_voltage_kV=90, point={"anode_voltage_kV": 90})))
    (warning,) = p15(evaluated(minimal_survey(apparatus_max_voltage_kV=90, point={"anode_voltage_kV": 80})))
    assert "apparatus maximum 90 kV" in warning


def test_p15_warnings_are_in_the_evaluation_document():
    document = evaluated(fluoroscopy(1.0)).to_dict()
    codes = [(w["paragraph"], w["code"]) for w in document["warnings"]]
    assert ("p.15", "fluoroscopy_current") in codes
    assert document["points"][0]["warnings"][0]["field"] == "anode_current_mA"


# -- p.25: dental rooms next to dwellings --------------------------------------------------------


def dental(k, category=7):
    return {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "dental_film",
        "background_compensated": True,
        "points": [
            {
                "id": "D1",
                "room": "dental room, wall to flat 12",
                "category": category,
                "kind": "door_window_joint",
                "anode_current_mA": 2,
                "anode_voltage_kV": 70,
                "design_attenuation_factor": k,
                "readings_uGy_h": {"120": [36.0] * 3},
            }
        ],
    }


def test_the_judged_e_is_the_measured_e_divided_by_k():
    # D_priv = 36 / 2 * 200 / 1800 = 2 uGy/h; E = 1 uSv/h measured; / K 4 = 0.25 <= 0.3
    point = evaluated(dental({"value": 4, "source": "project 17-2007, sheet 3"})).points[0]
    assert (point.effective_measured_uSv_h, point.effective_uSv_h, point.limit_uSv_h) == (1.0, 0.25, 0.3)
    assert point.verdict == "pass"
    document = point.to_dict()
    assert document["design_attenuation_factor"] == {"value": 4, "source": "project 17-2007, sheet 3"}
    assert (document["effective_measured_uSv_h"], document["effective_uSv_h"]) == (1.0, 0.25)
    assert any(w.paragraph == "p.25" for w in point.warnings)


def test_e_over_k_equal_to_the_dwelling_limit_passes_exactly():
    # 43.2 / 2 * 200 / 1800 = 2.4 uGy/h; E = 1.2 uSv/h; / K 4 = 0.3 = DMD_E of category 7
    data = dental({"value": 4, "source": "design"})
    data["points"][0]["readings_uGy_h"] = {"120": [43.2] * 3}
    point = evaluated(data).points[0]
    assert point.exact_effective_uSv_h == Fraction(3, 10)
    assert (point.effective_uSv_h, point.verdict) == (0.3, "pass")


def test_without_k_the_same_point_fails():
    data = dental(None)
    del data["points"][0]["design_attenuation_factor"]
    point = evaluated(data).points[0]
    assert (point.effective_measured_uSv_h, point.effective_uSv_h, point.verdict) == (1.0, 1.0, "fail")
    assert point.design_attenuation_factor is None


@pytest.mark.parametrize(
    ("k", "message"),
    [
        ({"value": 0, "source": "design"}, "design_attenuation_factor.value: must be a finite number > 0"),
        ({"value": 4}, "design_attenuation_factor.source: required field is missing"),
        ({"value": 4, "source": " "}, "design_attenuation_factor.source: must not be empty"),
    ],
)
def test_a_bad_k_is_one_error_naming_the_point(k, message):
    with pytest.raises(SurveyError) as caught:
        parse_survey(dental(k), "s.json")
    assert str(caught.value).startswith(f"s.json: points[D1].{message}")


def test_k_outside_category_7_is_refused():
    with pytest.raises(SurveyError, match=r"points\[D1\]\.design_attenuation_factor: .*category 7.*p\.25"):
        parse_survey(dental({"value": 4, "source": "design"}, category=2), "s.json")


hundredths = st.integers(min_value=0, max_value=100_000).map(lambda n: Decimal(n) / 100)


@settings(max_examples=300, deadline=None)
@given(reading=hundredths, background=hundredths)
def test_the_net_dose_rate_is_the_decimal_difference_without_noise(reading, background):
    # 0.3 - 0.1 in floats is 0.19999999999999998; the evaluation prints 0.2
    data = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [float(background)] * 3,
        "points": [
            {
                "id": "P1",
                "room": "r",
                "category": 3,
                "kind": "above",
                "anode_current_mA": 2,
                "readings_uGy_h": {"80": [float(reading)] * 3},
            }
        ],
    }
    height = evaluated(data).to_dict()["points"][0]["heights"]["80"]
    assert Decimal(repr(height["net_uGy_h"])) == max(reading - background, Decimal(0))
    assert Decimal(repr(height["mean_uGy_h"])) == reading


@settings(max_examples=200, deadline=None)
@given(offsets=st.lists(st.integers(min_value=-19, max_value=19), min_size=4, max_size=4), level=hundredths)
def test_heights_anywhere_inside_their_band_give_the_nominal_result(minimal_survey, offsets, level):
    nominal = (30, 80, 120, 160)
    readings = {str(h + o): [float(level) + h / 10] * 3 for h, o in zip(nominal, offsets, strict=True)}
    at_nominal = {str(h): [float(level) + h / 10] * 3 for h in nominal}
    shifted = evaluated(minimal_survey(point=workplace(readings))).points[0]
    exact = evaluated(minimal_survey(point=workplace(at_nominal))).points[0]
    assert [h.nominal_height_cm for h in shifted.heights] == list(nominal)
    assert shifted.exact_effective_uSv_h == exact.exact_effective_uSv_h
