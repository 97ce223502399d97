"""Issue 21 §3: the method corrections. Numbers worked by hand from App. 14 (kz-2008-303).

Radiography, W = 1000 mA·min/week, I = 2 mA, background 0.1 uGy/h: a reading of 21.7 uGy/h is net 21.6,
normalised 21.6 / 2 * 1000 / 1800 = 6 uGy/h exactly. A wall point (80/120 cm) with 6 at both heights:
formula (3) as printed gives 0.25 * (6 + 0.5 * 6) = 2.25 uSv/h, read with formula (4) 0.25 * (6 + 6) = 3 uSv/h;
category 2's DMD_E is 2.5 uSv/h: the printed reading passes, the other fails.
"""

from __future__ import annotations

import pytest

from radsurvey.protocols.evaluation import evaluate
from radsurvey.protocols.survey import parse_survey

WALL = {"kind": "wall", "category": 2, "readings_uGy_h": {"80": [21.7] * 3, "120": [21.7] * 3}}


def evaluated(data):  # type: ignore[no-untyped-def]
    return evaluate(parse_survey(data, "survey.json"))


def codes(point) -> list[str]:  # type: ignore[no-untyped-def]
    return [w.code for w in point.warnings]


@pytest.mark.parametrize("variant", ["literal", "conservative"])
def test_when_the_formula3_reading_decides_the_verdict_a_warning_names_both_values(minimal_survey, variant) -> None:
    data = minimal_survey(point=WALL, options={"formula3": variant})
    point = evaluated(data).points[0]
    assert point.formula == "3" and point.verdict == ("pass" if variant == "literal" else "fail")
    [warning] = [w for w in point.warnings if w.code == "formula3_decides"]
    assert str(warning) == (
        "formula: formula (3) decides the verdict: as printed (E = 0.25 * (D80 + 0.5*D120)) E = 2.25 uSv/h, pass;"
        " read consistently with formula (4) (E = 0.25 * (D80 + D120)) E = 3 uSv/h, fail;"
        f" the evaluation used the {variant} reading"
    )
    assert warning.paragraph == "p.29" and warning.field == "formula"


def test_no_formula3_warning_when_both_readings_agree(minimal_survey) -> None:
    both_pass = {**WALL, "readings_uGy_h": {"80": [10.9] * 3, "120": [10.9] * 3}}  # 3 -> 1.125 / 1.5
    assert "formula3_decides" not in codes(evaluated(minimal_survey(point=both_pass)).points[0])


@pytest.mark.parametrize(("apparatus", "warned"), [("surgical_c_arm", True), ("angiography", True),
                                                   ("fluoroscopy", True), ("radiography", False)])  # fmt: skip
def test_the_2_mA_fluoroscopy_check_follows_the_profile_rows_data(minimal_survey, apparatus, warned) -> None:
    data = minimal_survey(apparatus=apparatus, point={"anode_current_mA": 1.5})
    assert ("fluoroscopy_current" in codes(evaluated(data).points[0])) is warned


def test_category_7_with_a_non_dental_apparatus_is_a_warning(minimal_survey) -> None:
    point = {"category": 7, "readings_uGy_h": {"80": [0.2] * 3}}
    warned = evaluated(minimal_survey(point=point)).points[0]
    [w] = [w for w in warned.warnings if w.code == "category_scope"]
    assert str(w) == (
        "category: category 7 (Dwellings adjacent to the procedure room of a dental X-ray room) is for dental_film,"
        " dental_digital apparatus (App. 14 Table 2 row 7), not 'radiography'"
    )
    dental = evaluated(minimal_survey(apparatus="dental_digital", point=point)).points[0]
    assert "category_scope" not in codes(dental)


def test_a_workplace_point_in_a_therapy_room_is_a_warning(minimal_survey) -> None:
    readings = {"30": [0.5] * 3, "80": [0.5] * 3, "120": [0.5] * 3, "160": [0.5] * 3}
    point = {"kind": "workplace", "category": 1, "readings_uGy_h": readings}
    therapy = evaluated(minimal_survey(apparatus="therapy_short_distance", point=point)).points[0]
    [w] = [w for w in therapy.warnings if w.code == "therapy_workplace"]
    assert w.paragraph == "p.26" and "adjacent rooms only" in str(w)
    assert "therapy_workplace" not in codes(evaluated(minimal_survey(point=point)).points[0])
    wall = evaluated(minimal_survey(apparatus="therapy_short_distance", point=WALL)).points[0]
    assert "therapy_workplace" not in codes(wall)
