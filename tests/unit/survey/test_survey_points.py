"""Point definitions are checked before they are stored: prompts re-ask, plans fail in one line, resume repairs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from radsurvey.daemon.cli import app
from radsurvey.daemon.survey.capture import SilentUI, SurveyFlow
from radsurvey.daemon.survey.files import new_session
from radsurvey.daemon.survey.metadata import TechnicianProfile
from radsurvey.daemon.survey.points import parse_heights
from radsurvey.daemon.survey.store import BACKGROUND, SurveyStore
from radsurvey.protocols.errors import SurveyError


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SurveyStore]:
    s = SurveyStore(tmp_path / "surveys.sqlite")
    yield s
    s.close()


class ScriptedUI:
    """A technician at a terminal, answering from a list; records what was said."""

    interactive = True

    def __init__(self, answers: dict[str, list[Any]]):
        self.answers = {prompt: list(values) for prompt, values in answers.items()}
        self.said: list[str] = []

    def _next(self, prompt: str, default: Any) -> Any:
        queue = self.answers.get(prompt)
        if not queue:
            if default is None:
                raise AssertionError(f"unexpected prompt {prompt!r}")
            return default
        answer = queue.pop(0)
        return default if answer is None else answer

    def say(self, text: str) -> None:
        self.said.append(text)

    def ask_text(self, prompt: str, default: str | None = None) -> str:
        return str(self._next(prompt, default))

    def ask_float(self, prompt: str, default: float | None = None) -> float:
        return float(self._next(prompt, default))

    def ask_choice(self, prompt: str, choices: list[tuple[str, str]], default: str | None = None) -> str:
        return str(self._next(prompt, default or None))

    def confirm(self, prompt: str, default: bool = True) -> bool:
        return bool(self._next(prompt, default))

    def wait(self, prompt: str) -> None:
        return None


def plan(**point: Any) -> dict[str, Any]:
    return {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [0.1, 0.1, 0.1],
        "points": [
            {
                "id": "A1",
                "room": "office above",
                "category": 2,
                "kind": "above",
                "anode_current_mA": 4,
                "readings_uGy_h": {"80": [10.0, 10.0, 10.0]},
                **point,
            }
        ],
    }


@pytest.mark.parametrize(
    ("typed", "heights"),
    [("80", [80]), ("80 cm", [80]), ("80cm", [80]), ("80, 120 cm", [80, 120]), ("30 80 120 160", [30, 80, 120, 160])],
)
def test_heights_are_read_with_or_without_cm(typed: str, heights: list[int]) -> None:
    assert parse_heights(typed) == heights


@pytest.mark.parametrize("typed", ["eighty", "80 mm", "-80", "80 80", ""])
def test_anything_else_typed_as_heights_is_a_clear_message(typed: str) -> None:
    with pytest.raises(ValueError, match=r"centimetres|above the floor|twice|at least one"):
        parse_heights(typed)


@pytest.mark.parametrize(
    ("point", "field", "message"),
    [
        ({"anode_current_mA": 0}, "anode_current_mA", "must be a number > 0 mA"),
        ({"anode_voltage_kV": 0}, "anode_voltage_kV", "must be a number > 0 kV"),
        ({"category": 9}, "category", "unknown room category 9"),
        ({"kind": "roof"}, "kind", "unknown point kind 'roof'"),
        ({"readings_uGy_h": {"30": [1, 1, 1], "80": [1, 1, 1]}}, "heights_cm", "unsupported height combination"),
    ],
)
def test_a_plan_point_the_protocol_cannot_evaluate_is_refused_before_it_is_stored(
    store: SurveyStore, point: dict[str, Any], field: str, message: str
) -> None:
    doc = plan(**point)
    sid = new_session(store, doc, profile=TechnicianProfile())
    with pytest.raises(SurveyError, match=message) as err:
        SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc).run()
    assert err.value.field == f"points[A1].{field}"
    assert store.get(sid).points == []


def test_the_terminal_re_asks_a_zero_current_and_an_unsupported_height(store: SurveyStore) -> None:
    doc = {"schema": "radsurvey.survey/1", "protocol": "kz-2008-303", "apparatus": "radiography"}
    doc["background_uGy_h"] = [0.1, 0.1, 0.1]
    sid = new_session(store, doc, profile=TechnicianProfile())
    ui = ScriptedUI(
        {
            "Add the first measurement point?": [True],
            "Add a measurement point?": [False],
            "Point id": ["A1"],
            "Room / location": ["office above"],
            "Position of the probe in the room (e.g. 1 m from the beam axis; - to skip)": ["grid point 2, by the desk"],
            "Room category (App. 14 Table 2)": ["2"],
            "Kind of point": ["above"],
            "Heights above the floor, cm": ["eighty", "30 80", "80 cm"],
            "Anode current, mA": [0, 4],
            "Anode voltage, kV": [None],  # accept the proposed standard voltage
            "A1 80 cm: reading 1, uGy/h": [10],
            "A1 80 cm: reading 2, uGy/h": [10],
            "A1 80 cm: reading 3, uGy/h": [10],
            "Finish the survey and evaluate it?": [True],
        }
    )
    result = SurveyFlow(store=store, survey_id=sid, ui=ui, plan=doc).run()
    assert result is not None and result.points[0].formula == "4"
    spec = store.get(sid).point("A1")
    assert spec is not None
    assert spec["heights_cm"] == [80] and spec["anode_current_mA"] == 4 and spec["anode_voltage_kV"] == 100
    assert spec["location"] == "grid point 2, by the desk"
    said = "\n".join(ui.said)
    assert "'eighty' is not a height in whole centimetres" in said
    assert "Unsupported height combination 30/80 cm" in said
    assert "The anode current must be a number > 0 mA" in said


def broken_session(store: SurveyStore) -> str:
    """A session as an older radsurvey left it: point A1 stored with an anode current of 0."""
    doc = {"schema": "radsurvey.survey/1", "protocol": "kz-2008-303", "apparatus": "radiography"}
    sid = new_session(store, doc, profile=TechnicianProfile(), survey_id="OLD")
    store.add_point(
        sid,
        {"id": "A1", "room": "office above", "category": 2, "kind": "above", "heights_cm": [80], "anode_current_mA": 0},
    )
    for value in (0.1, 0.1, 0.1):
        store.add_reading(sid, point=BACKGROUND, height_cm=None, value_uGy_h=value, source="manual")
    for value in (10.0, 10.0, 10.0):
        store.add_reading(sid, point="A1", height_cm=80, value_uGy_h=value, source="manual")
    return sid


def test_resuming_a_broken_session_without_a_terminal_says_what_is_wrong_and_how_to_fix_it(
    store: SurveyStore,
) -> None:
    sid = broken_session(store)
    with pytest.raises(SurveyError) as err:
        SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None)).run()
    text = str(err.value)
    assert text.startswith("survey OLD: points[A1].anode_current_mA: the anode current must be a number > 0 mA")
    assert "--plan" in text and "resume in a terminal" in text
    assert store.get(sid).point("A1")["anode_current_mA"] == 0  # nothing changed


def test_resume_with_a_plan_giving_the_current_repairs_the_point_and_keeps_its_readings(store: SurveyStore) -> None:
    sid = broken_session(store)
    fix = {"points": [{"id": "A1", "anode_current_mA": 4}]}
    result = SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=fix).run()
    assert result is not None
    assert result is not None and result.points[0].heights[0].readings_uGy_h == (10.0, 10.0, 10.0)
    assert store.get(sid).point("A1")["anode_current_mA"] == 4
    warnings = store.get(sid).header["metadata"]["warnings"]
    assert "point A1: anode_current_mA corrected from 0 to 4.0 when the survey was resumed" in warnings


def test_resume_in_a_terminal_asks_for_the_current_of_a_broken_point(store: SurveyStore) -> None:
    sid = broken_session(store)
    ui = ScriptedUI(
        {
            "Anode current, mA": [0, 2.5],
            "Add a measurement point?": [False],
            "Finish the survey and evaluate it?": [True],
        }
    )
    result = SurveyFlow(store=store, survey_id=sid, ui=ui).run()
    assert result is not None and store.get(sid).point("A1")["anode_current_mA"] == 2.5
    assert any("stored by an older radsurvey" in line for line in ui.said)


def test_cli_resume_of_a_broken_session_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADSURVEY_SURVEY_JOURNAL", str(tmp_path / "surveys.sqlite"))
    monkeypatch.setenv("RADSURVEY_PROFILE", str(tmp_path / "none.toml"))
    with SurveyStore(tmp_path / "surveys.sqlite") as store:
        broken_session(store)
    result = CliRunner().invoke(app, ["survey", "resume", "OLD", "--yes"])
    assert result.exit_code == 2
    assert result.stderr.startswith("radsurvey: error: survey OLD: points[A1].anode_current_mA: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_planned_location_is_kept_and_a_skipped_one_is_not_stored(store: SurveyStore) -> None:
    doc = plan(location="1 m from the corner")
    sid = new_session(store, doc, profile=TechnicianProfile())
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc).run()
    assert store.get(sid).point("A1")["location"] == "1 m from the corner"
    doc = plan()
    sid = new_session(store, doc, profile=TechnicianProfile())
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=doc).run()
    assert "location" not in store.get(sid).point("A1")
