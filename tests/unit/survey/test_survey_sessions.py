"""Survey sessions in the journal: readings committed at once, retakes, published points, files."""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from radsurvey.daemon.journal import SEQ_TABLES, Journal
from radsurvey.daemon.survey.capture import CaptureSettings, SilentUI, SurveyFlow
from radsurvey.daemon.survey.evaluation import evaluate_document
from radsurvey.daemon.survey.files import dump_survey, new_session, read_survey_file
from radsurvey.daemon.survey.metadata import (
    SurveyMetadata,
    TechnicianProfile,
    check_instruments,
    load_profile,
)
from radsurvey.daemon.survey.store import BACKGROUND, SurveyStore
from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.profiles import get_profile


def worked_example() -> dict:
    text = resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8")
    return json.loads(text)


@pytest.fixture
def store(tmp_path: Path):
    s = SurveyStore(tmp_path / "surveys.sqlite")
    yield s
    s.close()


def good_instrument(**over) -> dict:
    return {
        "model": "DKS",
        "serial": "1",
        "energy_min_keV": 15,
        "energy_max_keV": 3000,
        "dose_rate_min_uGy_h": 0.1,
        "dose_rate_max_uGy_h": 1000,
        "error_percent": 15,
        "certificate_number": "C-1",
        "certificate_expires": "2099-01-01",
        **over,
    }


def test_a_reading_is_on_disk_before_add_reading_returns(store: SurveyStore, tmp_path: Path) -> None:
    sid = store.create({"protocol": "kz-2008-303", "apparatus": "radiography", "metadata": {}})
    store.add_reading(sid, point=BACKGROUND, height_cm=None, value_uGy_h=0.12, source="manual")
    # Another connection (as after a crash) sees it without the store being closed.
    with sqlite3.connect(tmp_path / "surveys.sqlite") as other:
        assert other.execute("SELECT value_uGy_h FROM survey_readings").fetchall() == [(0.12,)]


def test_a_retake_keeps_the_discarded_readings_for_audit(store: SurveyStore) -> None:
    sid = store.create({"protocol": "kz-2008-303", "apparatus": "radiography", "metadata": {}})
    store.add_point(
        sid,
        {
            "id": "R1",
            "room": "r",
            "category": 1,
            "kind": "above",
            "heights_cm": [80],
            "anode_current_mA": 4,
        },
    )
    for v in (1.0, 9.0, 1.0):
        store.add_reading(sid, point="R1", height_cm=80, value_uGy_h=v, source="manual")
    assert store.discard(sid, point="R1", height_cm=80) == 3
    store.add_reading(sid, point="R1", height_cm=80, value_uGy_h=2.0, source="manual")
    session = store.get(sid)
    assert session.kept("R1", 80) == [2.0]
    assert len(session.readings) == 4


def test_evaluated_points_take_the_journal_wide_seq(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite"
    with Journal(path) as journal:
        journal.append("meter_events", {"ts": "2026-01-01T00:00:00Z", "meter": "m", "state": "connected"})
        journal.flush()
    assert "survey_points" in SEQ_TABLES
    with SurveyStore(path) as store:
        sid = store.import_document(worked_example())
        result = evaluate_document(store.get(sid).document())
        seqs = [store.record_point(sid, p) for p in result.points]
        assert seqs == [2, 3, 4]
        assert store.record_point(sid, result.points[0]) is None  # unchanged: not published again
        latest = store.latest_points(sid)
    assert [p["id"] for p in latest] == ["R1", "S1", "A1"]
    assert latest[2]["verdict"] == "fail" and latest[2]["survey"] == sid
    with Journal(path) as journal:  # the daemon's journal continues after the survey's seqs
        assert journal.append("meter_events", {"ts": "2026-01-01T00:00:01Z", "meter": "m", "state": "x"}) == 5


def test_import_then_export_round_trips_json_and_toml(store: SurveyStore, tmp_path: Path) -> None:
    doc = worked_example()
    sid = store.import_document(doc)
    exported = store.get(sid).document()
    assert evaluate_document(exported) == evaluate_document(doc)
    toml_file = tmp_path / "s.toml"
    toml_file.write_text(dump_survey(exported, "toml"), encoding="utf-8")
    again = read_survey_file(toml_file)
    assert evaluate_document(again) == evaluate_document(doc)
    assert again["metadata"]["facility"]["name"] == "City Polyclinic No. 7 (example)"
    assert again["metadata"]["instruments"][0]["certificate_number"] == "VC-08-5531"


def test_manual_entry_plan_reproduces_the_worked_example(store: SurveyStore) -> None:
    plan = worked_example()
    sid = new_session(store, plan, profile=TechnicianProfile(), today=date(2008, 11, 14))
    said: list[str] = []
    flow = SurveyFlow(store=store, survey_id=sid, ui=SilentUI(said.append), plan=plan)
    result = flow.run()
    assert result == evaluate_document(plan)
    assert result is not None
    assert [p.effective_uSv_h for p in result.points] == pytest.approx([2.875, 0.41145833, 2.7708333])
    assert result.verdict == "fail"
    assert store.get(sid).status == "finished"
    assert all(r.source == "plan" for r in store.get(sid).readings)
    meta = store.get(sid).document()["metadata"]
    assert meta["measured_from"].endswith("Z") and meta["measured_from"] <= meta["measured_to"]


def test_non_interactive_capture_without_answers_names_what_is_missing(store: SurveyStore) -> None:
    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [0.1, 0.1, 0.1],
        "points": [{"id": "R1", "room": "r", "category": 1, "kind": "above"}],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    flow = SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=plan)
    with pytest.raises(SurveyError, match="Anode current"):
        flow.run()


def test_spread_above_the_threshold_is_retaken_in_non_interactive_runs(store: SurveyStore) -> None:
    class Noisy:
        name = "meter:test"
        values = iter([0.1, 0.1, 0.1, 5.0, 50.0, 5.0, 10.0, 10.2, 9.8])

        def read(self):
            from radsurvey.daemon.survey.capture import MeterSample

            return MeterSample(value_uGy_h=next(self.values), unit="uGy/h", raw="", source=self.name)

        def close(self) -> None:
            pass

    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "points": [{"id": "A1", "room": "r", "category": 2, "kind": "above", "anode_current_mA": 4}],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    said: list[str] = []
    flow = SurveyFlow(
        store=store,
        survey_id=sid,
        ui=SilentUI(said.append),
        source=Noisy(),
        plan=plan,
        settings=CaptureSettings(repeats=3, spread_warn_percent=20),
    )
    flow.run()
    session = store.get(sid)
    assert session.kept("A1", 80) == [10.0, 10.2, 9.8]
    assert [r.value_uGy_h for r in session.readings if r.discarded] == [5.0, 50.0, 5.0]
    assert any("spread" in line for line in said)


def test_instrument_check_flags_expired_certificate_and_narrow_ranges() -> None:
    meta = SurveyMetadata.model_validate(
        {"instruments": [good_instrument(certificate_expires="2020-01-01", energy_min_keV=50, dose_rate_max_uGy_h=100)]}
    )
    problems = check_instruments(meta, get_profile("kz-2008-303").instrument, on=date(2021, 5, 1))
    text = " | ".join(problems)
    assert "expired on 2020-01-01" in text
    assert "energy range 50-3000 keV does not cover the required 15-3000 keV" in text
    assert "dose-rate range 0.1-100 uGy/h does not cover the required 0.1-1000 uGy/h" in text
    good = SurveyMetadata.model_validate({"instruments": [good_instrument()]})
    assert check_instruments(good, get_profile("kz-2008-303").instrument, on=date(2021, 5, 1)) == []


def test_instrument_problems_are_recorded_as_warnings_and_refused_with_strict(
    store: SurveyStore,
) -> None:
    doc = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "metadata": {"instruments": [good_instrument(certificate_expires="2001-01-01")]},
    }
    sid = new_session(store, doc, profile=TechnicianProfile(), today=date(2026, 1, 1))
    assert any("expired" in w for w in store.get(sid).header["metadata"]["warnings"])
    with pytest.raises(SurveyError, match="instrument check failed"):
        new_session(store, doc, profile=TechnicianProfile(), strict=True, today=date(2026, 1, 1))


def test_technician_profile_fills_people_and_instruments(store: SurveyStore, tmp_path: Path) -> None:
    path = tmp_path / "profile.toml"
    path.write_text(
        'name = "A. Tech"\norganisation = "Lab 1"\n[[instruments]]\nmodel = "DKS"\nserial = "7"\n'
        "energy_min_keV = 15\nenergy_max_keV = 3000\ndose_rate_min_uGy_h = 0.1\ndose_rate_max_uGy_h = 1000\n"
        'certificate_number = "C"\ncertificate_expires = 2099-01-01\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    sid = new_session(store, {"apparatus": "ct"}, profile=profile)
    meta = store.get(sid).header["metadata"]
    assert meta["performed_by"][0]["name"] == "A. Tech"
    assert meta["instruments"][0]["serial"] == "7"
    assert meta["warnings"] == []


def test_unknown_apparatus_is_refused_with_the_known_keys(store: SurveyStore) -> None:
    with pytest.raises(SurveyError, match=r"known: .*radiography"):
        new_session(store, {"apparatus": "toaster"}, profile=TechnicianProfile())


def test_a_meter_in_uSv_h_is_used_1_to_1_with_a_recorded_warning(store: SurveyStore) -> None:
    from radsurvey.daemon.survey.capture import MeterSample

    class SievertMeter:
        name = "meter:test"

        def read(self) -> MeterSample:
            return MeterSample(value_uGy_h=1.0, unit="uSv/h", raw="", source=self.name)

        def close(self) -> None:
            pass

    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "points": [{"id": "A1", "room": "r", "category": 2, "kind": "above", "anode_current_mA": 4}],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), source=SievertMeter(), plan=plan).run()
    warnings = store.get(sid).header["metadata"]["warnings"]
    assert sum("reports uSv/h" in w for w in warnings) == 1
    assert {r.unit for r in store.get(sid).readings} == {"uSv/h"}


def test_until_stable_discards_readings_until_three_agree(store: SurveyStore) -> None:
    from radsurvey.daemon.survey.capture import MeterSample

    class Warming:
        name = "meter:test"
        # background (3), then a point whose first readings are still rising
        values = iter([0.1, 0.1, 0.1, 100.0, 50.0, 20.0, 10.0, 10.1, 9.9, 10.0, 10.2, 9.8])

        def read(self) -> MeterSample:
            return MeterSample(value_uGy_h=next(self.values), unit="uGy/h", raw="", source=self.name)

        def close(self) -> None:
            pass

    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [0.1, 0.1, 0.1],
        "points": [{"id": "A1", "room": "r", "category": 2, "kind": "above", "anode_current_mA": 4}],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    meter = Warming()
    for _ in range(3):  # the plan gives the background; skip the meter's background values
        meter.read()
    settings = CaptureSettings(repeats=3, until_stable=True, settle_max_s=30)
    SurveyFlow(
        store=store, survey_id=sid, ui=SilentUI(lambda _: None), source=meter, plan=plan, settings=settings
    ).run()
    assert store.get(sid).kept("A1", 80) == [10.0, 10.2, 9.8]


def test_readings_kept_with_a_wide_spread_are_a_warning_in_the_report(store: SurveyStore) -> None:
    from radsurvey.daemon.report import render_report

    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [0.1, 0.1, 0.1],
        "points": [
            {
                "id": "A1",
                "room": "r",
                "category": 2,
                "kind": "above",
                "anode_current_mA": 4,
                "readings_uGy_h": {"80": [10.0, 50.0, 10.0]},
            }
        ],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), plan=plan).run()
    warning = "point A1 at 80 cm: spread 99.0 % exceeds 20 %; readings kept"
    assert warning in store.get(sid).header["metadata"]["warnings"]
    assert warning in json.loads(render_report(store.get(sid).document(), fmt="json"))["warnings"]
    assert warning in render_report(store.get(sid).document(), fmt="html")


def test_a_retake_that_cures_the_spread_leaves_no_warning(store: SurveyStore) -> None:
    class Noisy:
        name = "meter:test"
        values = iter([5.0, 50.0, 5.0, 10.0, 10.2, 9.8])

        def read(self):
            from radsurvey.daemon.survey.capture import MeterSample

            return MeterSample(value_uGy_h=next(self.values), unit="uGy/h", raw="", source=self.name)

        def close(self) -> None:
            pass

    plan = {
        "schema": "radsurvey.survey/1",
        "protocol": "kz-2008-303",
        "apparatus": "radiography",
        "background_uGy_h": [0.1, 0.1, 0.1],
        "points": [{"id": "A1", "room": "r", "category": 2, "kind": "above", "anode_current_mA": 4}],
    }
    sid = new_session(store, plan, profile=TechnicianProfile())
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(lambda _: None), source=Noisy(), plan=plan).run()
    assert not any("spread" in w for w in store.get(sid).header["metadata"]["warnings"])


def test_retakes_and_point_edits_are_recorded_with_times_in_the_exported_metadata(store: SurveyStore) -> None:
    sid = store.create({"protocol": "kz-2008-303", "apparatus": "radiography", "metadata": {}})
    spec = {"id": "R1", "room": "r", "category": 1, "kind": "above", "heights_cm": [80], "anode_current_mA": 4}
    store.add_point(sid, spec)
    for v in (1.0, 9.0):
        store.add_reading(
            sid, point="R1", height_cm=80, value_uGy_h=v, source="manual", ts=f"2026-12-01T10:00:0{v:.0f}Z"
        )
    store.discard(sid, point="R1", height_cm=80)
    store.discard(sid, point="R1", height_cm=80)  # nothing left to discard: no entry
    store.update_point(sid, {**spec, "anode_current_mA": 2})
    audit = store.get(sid).document()["metadata"]["audit"]
    assert [e["action"] for e in audit] == ["discarded", "edited"]
    discarded, edited = audit
    assert discarded["point"] == "R1" and discarded["height_cm"] == 80
    assert discarded["readings_uGy_h"] == [1.0, 9.0]
    assert discarded["read_at"] == ["2026-12-01T10:00:01Z", "2026-12-01T10:00:09Z"]
    assert discarded["at"].endswith("Z") or "+" in discarded["at"]
    assert (edited["field"], edited["old"], edited["new"]) == ("anode_current_mA", 4, 2)
    assert SurveyMetadata.model_validate(store.get(sid).metadata).audit[1].new == 2


def test_a_new_session_records_the_sites_time_zone(store: SurveyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Almaty")
    doc = {"schema": "radsurvey.survey/1", "protocol": "kz-2008-303", "apparatus": "radiography"}
    sid = new_session(store, doc, profile=TechnicianProfile())
    assert store.get(sid).metadata["timezone"] == "Asia/Almaty"
    given = {**doc, "metadata": {"timezone": "Europe/Bucharest"}}
    sid = new_session(store, given, profile=TechnicianProfile())
    assert store.get(sid).metadata["timezone"] == "Europe/Bucharest"  # what the plan says wins
