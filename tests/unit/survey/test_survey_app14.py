"""The guided survey applies App. 14 p.15 and p.25 as it goes, and its small input helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from radsurvey.daemon.cli.survey import simulated_survey_options
from radsurvey.daemon.survey.capture import SilentUI, SurveyFlow
from radsurvey.daemon.survey.files import new_session
from radsurvey.daemon.survey.metadata import TechnicianProfile
from radsurvey.daemon.survey.meter import counts_without_sensitivity
from radsurvey.daemon.survey.points import (
    default_kind,
    entered_at_wait,
    parse_attenuation_factor,
    parse_decimal,
    parse_range,
)
from radsurvey.daemon.survey.store import SurveyStore
from radsurvey.drivers import registry
from radsurvey.protocols.errors import SurveyError
from tests.unit.survey.test_survey_points import ScriptedUI


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SurveyStore]:
    s = SurveyStore(tmp_path / "surveys.sqlite")
    yield s
    s.close()


def fluoroscopy_plan(**point: Any) -> dict[str, Any]:
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
                "anode_current_mA": 1,
                "anode_voltage_kV": 100,
                "readings_uGy_h": {"80": [10.0, 10.0, 10.0]},
                **point,
            }
        ],
    }


def test_a_fluoroscopy_current_below_2_mA_is_warned_and_in_the_evaluation(store: SurveyStore) -> None:
    doc = fluoroscopy_plan()
    sid = new_session(store, doc, profile=TechnicianProfile())
    said: list[str] = []
    result = SurveyFlow(store=store, survey_id=sid, ui=SilentUI(said.append), plan=doc).run()
    assert result is not None
    assert any("point F1: anode_current_mA: 1 mA is below the 2 mA App. 14 p.15" in line for line in said)
    (warning,) = [w.to_dict() for w in result.warnings if w.paragraph == "p.15"]
    assert warning["code"] == "fluoroscopy_current" and warning["field"] == "points[F1].anode_current_mA"


def test_strict_refuses_it_without_a_terminal(store: SurveyStore) -> None:
    doc = fluoroscopy_plan()
    sid = new_session(store, doc, profile=TechnicianProfile())
    with pytest.raises(SurveyError, match=r"1 mA is below the 2 mA .*\(--strict\)") as err:
        SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc, strict=True).run()
    assert err.value.field == "points[F1].anode_current_mA"
    assert store.get(sid).points == []


def test_strict_re_asks_it_on_a_terminal(store: SurveyStore) -> None:
    doc = fluoroscopy_plan()
    del doc["points"][0]["anode_current_mA"]
    sid = new_session(store, doc, profile=TechnicianProfile())
    ui = ScriptedUI(
        {
            "Anode current, mA": [1.5, 2],
            "Add a measurement point?": [False],
            "Finish the survey and evaluate it?": [True],
        }
    )
    result = SurveyFlow(store=store, survey_id=sid, ui=ui, plan=doc, strict=True).run()
    assert result is not None and result.points[0].verdict == "pass"
    assert store.get(sid).point("F1")["anode_current_mA"] == 2
    assert any("(--strict); enter the value used" in line for line in ui.said)


def dental_plan(**point: Any) -> dict[str, Any]:
    return {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "dental_film",
        "background_compensated": True,
        "points": [
            {
                "id": "D1",
                "room": "dental room",
                "category": 7,
                "kind": "wall",
                "anode_current_mA": 2,
                "anode_voltage_kV": 70,
                "readings_uGy_h": {"80": [36.0] * 3, "120": [36.0] * 3},
                **point,
            }
        ],
    }


def test_k_from_a_plan_is_stored_and_divides_e(store: SurveyStore) -> None:
    doc = dental_plan(design_attenuation_factor={"value": "5", "source": "design, sheet 2"})
    sid = new_session(store, doc, profile=TechnicianProfile())
    result = SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc).run()
    assert result is not None
    (point,) = result.to_dict()["points"]
    # D = 36 / 2 * 200 / 1800 = 2 at both heights; literal (3): 0.25 * (2 + 0.5 * 2) = 0.75; / 5 = 0.15
    assert (point["effective_measured_uSv_h"], point["effective_uSv_h"], point["verdict"]) == (0.75, 0.15, "pass")
    assert store.get(sid).point("D1")["design_attenuation_factor"] == {"value": 5.0, "source": "design, sheet 2"}


def test_k_asked_on_a_terminal_at_a_category_7_point(store: SurveyStore) -> None:
    doc = dental_plan()
    point = doc["points"][0]
    doc["points"] = []
    sid = new_session(store, doc, profile=TechnicianProfile())
    prompt_k = (
        "Design attenuation factor K of the shielding towards the dwelling (App. 14 p.25; - if measured in the"
        " dwelling itself)"
    )
    ui = ScriptedUI(
        {
            "Add the first measurement point?": [True],
            "Add a measurement point?": [False],
            "Point id": ["D1"],
            "Room / location": [point["room"]],
            "Position of the probe in the room (e.g. 1 m from the beam axis; - to skip)": ["-"],
            "Room category (App. 14 Table 2)": ["7"],
            "Kind of point": [None],  # the default for category 7: wall
            "Heights above the floor, cm": [None],
            "Anode current, mA": [2],
            "Anode voltage, kV": [70],
            prompt_k: ["zero", "2,5"],
            "Source of K (shielding design: document, sheet)": ["project 4, sheet 7"],
            **{f"D1 {h} cm: reading {i}, uGy/h": [36] for h in (80, 120) for i in (1, 2, 3)},
            "Finish the survey and evaluate it?": [True],
        }
    )
    result = SurveyFlow(store=store, survey_id=sid, ui=ui, plan=doc).run()
    assert result is not None
    (evaluated,) = result.to_dict()["points"]
    assert evaluated["kind"] == "wall"
    assert evaluated["design_attenuation_factor"] == {"value": 2.5, "source": "project 4, sheet 7"}
    assert evaluated["effective_uSv_h"] == 0.3 and evaluated["verdict"] == "pass"  # 0.75 / 2.5, exactly at 0.3
    assert any("'zero' is not a number" in line for line in ui.said)


def test_k_in_a_plan_at_another_category_is_refused(store: SurveyStore) -> None:
    doc = dental_plan(category=2, design_attenuation_factor={"value": 5, "source": "design"})
    sid = new_session(store, doc, profile=TechnicianProfile())
    with pytest.raises(SurveyError, match=r"category 7, App\. 14 p\.25\), not to category 2") as err:
        SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc).run()
    assert err.value.field == "points[D1].design_attenuation_factor"


@pytest.mark.parametrize(("typed", "value"), [("1.5", 1.5), ("1,5", 1.5), (" 0,10 ", 0.1), ("40", 40.0)])
def test_numbers_with_a_decimal_point_or_comma(typed: str, value: float) -> None:
    assert parse_decimal(typed) == value


@pytest.mark.parametrize("typed", ["", "1,5,6", "1.5,3", "abc", "nan", "inf"])
def test_anything_else_is_not_a_number(typed: str) -> None:
    with pytest.raises(ValueError, match=r"not a (finite )?number"):
        parse_decimal(typed)


@pytest.mark.parametrize(
    ("typed", "pair"),
    [("15-3000", (15, 3000)), ("0,1-1000", (0.1, 1000)), ("0.1 .. 1000", (0.1, 1000)), ("0,1 to 1000", (0.1, 1000))],
)
def test_ranges_with_comma_decimals(typed: str, pair: tuple[float, float]) -> None:
    assert parse_range(typed) == pair


@pytest.mark.parametrize("typed", ["1000-0,1", "15", "0-10", "a-b"])
def test_anything_else_is_not_a_range(typed: str) -> None:
    with pytest.raises(ValueError, match="is not a range"):
        parse_range(typed)


def test_k_typed_at_the_prompt() -> None:
    assert parse_attenuation_factor("-") is None
    assert parse_attenuation_factor("12,5") == 12.5
    with pytest.raises(ValueError, match="K is an attenuation factor > 0"):
        parse_attenuation_factor("0")


def test_text_at_an_enter_prompt_is_named() -> None:
    assert entered_at_wait("") == entered_at_wait("  ") == ""
    said = entered_at_wait("12.5")
    assert said == "'12.5' was not used: this step waits for Enter alone; readings are asked for next"


def test_the_kind_offered_follows_the_category_as_docs_survey_says() -> None:
    assert [default_kind(c) for c in range(1, 8)] == [
        "workplace",
        "wall",
        "wall",
        "wall",
        "wall",
        "territory",
        "wall",
    ]
    assert default_kind("3") == "workplace"  # not a category number: the first kind


def driver(name: str, **options: Any) -> Any:
    return registry.create(name, meter_id="survey", poll_interval_s=1.0, options=options)


def test_a_counter_without_sensitivity_is_named_with_the_option_that_fixes_it() -> None:
    problem = counts_without_sensitivity(driver("gmc", port="/dev/null"))
    assert "gives counts (cpm)" in problem and "--meter-option sensitivity_cpm_per_uSv_h=N" in problem
    assert counts_without_sensitivity(driver("gmc", port="/dev/null", sensitivity_cpm_per_uSv_h=153.8)) == ""
    assert counts_without_sensitivity(driver("simulated")) == ""
    modbus = {"host": "127.0.0.1", "address": 0}
    assert counts_without_sensitivity(driver("modbus", **modbus, unit="uSv/h")) == ""
    assert "sensitivity_cpm_per_uSv_h" in counts_without_sensitivity(driver("modbus", **modbus, unit="cpm"))


def test_the_simulated_meter_runs_a_survey_unless_a_schedule_is_given() -> None:
    options = simulated_survey_options({"seed": 3}, 2)
    assert options == {"mode": "survey", "survey_background_readings": 2, "counts_per_uGy": 1e8, "seed": 3}
    given = {"beam_uGy_h": 10, "beam_on_s": 5}
    assert simulated_survey_options(given, 3) == given


@pytest.mark.parametrize("fmt", ["json", "html"])  # the CSV is the numbers only
def test_the_report_carries_p15_warnings_and_k(fmt: str) -> None:
    from radsurvey.daemon.report import render_report

    fluoro = render_report(fluoroscopy_plan(), fmt=fmt, lang="en")
    assert "1 mA is below the 2 mA App. 14 p.15 requires in fluoroscopy" in fluoro
    dental = render_report(dental_plan(design_attenuation_factor={"value": 5, "source": "design, sheet 2"}), fmt=fmt)
    assert "K = 5 from the room&#39;s shielding design (design, sheet 2)" in dental or (
        "K = 5 from the room's shielding design (design, sheet 2)" in dental
    )


def test_the_evaluation_table_shows_measured_e_over_k_and_the_verdict() -> None:
    from rich.console import Console

    from radsurvey.daemon.survey.views import evaluation_table
    from radsurvey.protocols.evaluation import PointEvaluation

    point = PointEvaluation(
        id="D1",
        room="dental room",
        category=7,
        kind="wall",
        formula="3",
        heights=(),
        effective_measured_uSv_h=0.75,
        effective_uSv_h=0.3,
        design_attenuation_factor={"value": 2.5, "source": "design"},
        limit_uSv_h=0.3,
        ratio=1.0,
        verdict="pass",
        warnings=(),
    )
    console = Console(record=True, width=120, color_system=None)
    console.print(evaluation_table([point], title="Survey summary", rooms=True))
    text = console.export_text()
    assert "Survey summary" in text
    assert all(cell in text for cell in ("D1", "dental room", "(3)", "0.75 / K 2.5 = 0.3", "1.000", "PASS"))
