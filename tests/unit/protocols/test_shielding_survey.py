"""A survey point behind a designed barrier: the design's predicted E beside the measured, and p.25's K."""

from __future__ import annotations

from fractions import Fraction
from importlib import resources

import pytest

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.evaluation import evaluate
from radsurvey.protocols.shielding.room import calculate_room, parse_room_text
from radsurvey.protocols.survey import parse_survey

ROOM = resources.files("radsurvey.protocols.examples").joinpath("shielding-room.toml").read_text(encoding="utf-8")

DENTAL_ROOM = """
schema = "radsurvey.shielding-room/1"
room = "Dental room 3"

[[apparatus]]
id = "intraoral"
type = "dental_digital"

[[barriers]]
id = "N1"
description = "wall to the flat next door"
category = 7
layers = [{ material = "lead", thickness_mm = 1 }]
exposure = [{ apparatus = "intraoral", distance_m = 1.5, beam = "scatter" }]
"""


def design(text: str = ROOM):
    return calculate_room(parse_room_text(text, "room.toml"))


def test_a_point_naming_its_barrier_shows_the_designs_predicted_e_beside_the_measured(worked_example) -> None:
    doc = worked_example()
    doc["points"][1]["barrier"] = "W1"  # S1, the adjacent room, measured E = 0.411458
    result = evaluate(parse_survey(doc, "we.json"), design=design()).to_dict()
    s1 = result["points"][1]
    # W1 for radiography: D0 = 75 000; 3 mm Pb at 100 kV reaches the K = 60 000 row -> D = 1.25 uGy/h at
    # W = 1000 (the survey's W too); E = 0.5 * 1.25
    assert s1["design"]["barrier"] == "W1" and s1["design"]["apparatus"] == "rad"
    assert s1["design"]["predicted_uGy_h"] == 1.25 and s1["design"]["predicted_effective_uSv_h"] == 0.625
    assert s1["effective_measured_uSv_h"] == pytest.approx(0.411458, abs=1e-6)
    assert s1["effective_uSv_h"] == s1["effective_measured_uSv_h"]  # category 2: K is not applied
    assert "design" not in result["points"][0]  # existing keys and points without a barrier unchanged


def test_p25_k_comes_from_the_design_at_a_category_7_point(minimal_survey) -> None:
    doc = minimal_survey(
        {"category": 7, "barrier": "N1", "kind": "above"}, apparatus="dental_digital", background_uGy_h=[0, 0, 0]
    )
    result = evaluate(parse_survey(doc, "dental.json"), design=design(DENTAL_ROOM))
    point = result.points[0]
    # D0 = 1000 * 5.6 * 40 * 0.05 / (30 * 1.5^2) = 165.93; K = D0 / 0.3 = 553.09
    K = Fraction(1000) * Fraction(56, 10) * 40 * Fraction(5, 100) / (30 * Fraction(9, 4)) / Fraction(3, 10)
    # measured: 1 uGy/h at 2 mA, W = 40: D = 1 / 2 * 40 / 1800 = 1/90; E = 0.5 * D = 1/180
    assert point.exact_effective_uSv_h == Fraction(1, 180) / K
    assert point.design_attenuation_factor is not None
    assert point.design_attenuation_factor["value"] == float(K)
    assert "barrier N1" in point.design_attenuation_factor["source"]
    assert any(w.code == "design_attenuation_factor" and w.paragraph == "p.25" for w in point.warnings)


def test_a_typed_k_wins_over_the_design(minimal_survey) -> None:
    typed = {"value": 5, "source": "project 4"}
    doc = minimal_survey(
        {"category": 7, "barrier": "N1", "design_attenuation_factor": typed}, apparatus="dental_digital"
    )
    point = evaluate(parse_survey(doc, "dental.json"), design=design(DENTAL_ROOM)).points[0]
    assert point.design_attenuation_factor == typed


def test_a_barrier_without_a_design_is_a_warning_and_an_unknown_barrier_an_error(minimal_survey) -> None:
    doc = minimal_survey({"barrier": "W9"})
    point = evaluate(parse_survey(doc, "s.json")).points[0]
    assert [w.code for w in point.warnings if w.field == "barrier"] == ["no_shielding_design"]
    with pytest.raises(SurveyError, match=r"s.json: points\[P1\].barrier: no barrier 'W9' in the shielding design"):
        evaluate(parse_survey(doc, "s.json"), design=design())
