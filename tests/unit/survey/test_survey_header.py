"""The protocol header asked on a terminal, and plan files that answer every question of it."""

from __future__ import annotations

import copy
from typing import Any

from radsurvey.daemon.survey.header import ask_header
from radsurvey.daemon.survey.metadata import Instrument, SurveyMetadata, TechnicianProfile

FULL_PLAN: dict[str, Any] = {
    "schema": "radsurvey.survey/1",
    "protocol": "kz-2008-303",
    "apparatus": "radiography",
    "background_compensated": False,
    "metadata": {
        "protocol_number": "",
        "reason": "acceptance",
        "facility": {"name": "C", "address": "A", "department": "D", "room": "1", "radiation_work_code": ""},
        "apparatus": {
            "type": "general_diagnostic",
            "manufacturer": "M",
            "model": "X",
            "serial": "S",
            "tube_serial": "",
            "regulatory_id": "",
            "sanitary_conclusion": "No. 1",
        },
        "conditions": {
            "filter": "2.5 mm Al",
            "exposure": "1 s",
            "phantom": "water",
            "field_size": "180 x 180 mm",
            "table_position": "horizontal",
        },
        "representative": {"name": "R", "position": ""},
        "performed_by": [{"name": "T"}],
        "instruments": [{"model": "DKS", "serial": "1"}],
    },
}


class NoQuestions:
    interactive = True

    def __getattr__(self, name: str) -> Any:
        def refuse(prompt: str, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError(f"asked {prompt!r} although the plan answers it")

        return refuse


class Answers:
    """Answers every prompt with its default, or with the first answer whose key starts the prompt."""

    interactive = True

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.asked: list[str] = []
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)

    def ask_text(self, prompt: str, default: str | None = None) -> str:
        self.asked.append(prompt)
        return next((v for k, v in self.answers.items() if prompt.startswith(k)), default or "x")

    def ask_choice(self, prompt: str, choices: list[tuple[str, str]], default: str | None = None) -> str:
        self.asked.append(prompt)
        return default or choices[0][0]

    def confirm(self, prompt: str, default: bool = True) -> bool:
        self.asked.append(prompt)
        return default


def test_a_plan_can_answer_every_header_question() -> None:
    doc = copy.deepcopy(FULL_PLAN)
    assert ask_header(doc, NoQuestions(), TechnicianProfile()) == FULL_PLAN
    SurveyMetadata.model_validate(doc["metadata"])


def test_without_a_plan_or_profile_the_header_asks_for_people_instrument_and_identifiers() -> None:
    ui = Answers({"Dosimeter model": "DKS-1", "Certificate valid until": "2027-03-01", "Energy range": "15 - 3000"})
    doc = ask_header({"schema": "radsurvey.survey/1"}, ui, TechnicianProfile())
    meta = SurveyMetadata.model_validate(doc["metadata"])
    asked = " | ".join(ui.asked)
    for prompt in (
        "Protocol number",
        "X-ray tube serial",
        "Regulatory id of the device",
        "Sanitary-epidemiological conclusion",
        "Radiation-work (film-badge) code",
        "Does the instrument subtract the background itself",
        "Survey performed by (name)",
        "Verification certificate number",
    ):
        assert prompt in asked, prompt
    assert meta.apparatus.tube_serial == "" and meta.protocol_number == ""  # "-" skips
    assert meta.instruments[0].model == "DKS-1" and meta.instruments[0].energy_max_keV == 3000
    assert str(meta.instruments[0].certificate_expires) == "2027-03-01"
    assert doc["background_compensated"] is False
    assert any("No technician profile" in line for line in ui.said)


def test_a_technician_profile_spares_the_people_and_instrument_questions() -> None:
    profile = TechnicianProfile(name="A. Tech", instruments=[Instrument(model="DKS", serial="7")])
    ui = Answers({})
    ask_header({"schema": "radsurvey.survey/1"}, ui, profile)
    assert not any(p.startswith(("Survey performed by", "Dosimeter")) for p in ui.asked)


def test_a_plan_with_bad_metadata_is_refused_before_any_question() -> None:
    import pytest

    from radsurvey.protocols.errors import SurveyError

    doc = {"schema": "radsurvey.survey/1", "metadata": {"facility": "Clinic"}}
    with pytest.raises(SurveyError, match=r"^plan.toml: metadata.facility: should be a JSON object"):
        ask_header(doc, NoQuestions(), TechnicianProfile(), source="plan.toml")


def test_a_hand_written_plan_with_top_level_metadata_keeps_it() -> None:
    import json
    from importlib import resources

    text = resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8")
    ui = Answers({})
    doc = ask_header(json.loads(text), ui, TechnicianProfile())
    assert doc["metadata"]["facility"]["name"] == "City Polyclinic No. 7 (example)"
    assert doc["metadata"]["instruments"][0]["certificate_number"] == "VC-08-5531"
    assert not any(p.startswith(("Facility", "Address", "Dosimeter", "Survey performed by")) for p in ui.asked)
