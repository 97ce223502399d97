"""A survey read with a meter unfit for App. 14 p.32 says so by itself (the drivers' model tables)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from radsurvey.daemon.survey.capture import SilentUI, SurveyFlow
from radsurvey.daemon.survey.files import new_session
from radsurvey.daemon.survey.metadata import TechnicianProfile
from radsurvey.daemon.survey.meter import MeterSource
from radsurvey.daemon.survey.store import SurveyStore
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.gmc.emulator import GmcDevice
from tests.unit.survey.test_survey_app14 import fluoroscopy_plan


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SurveyStore]:
    s = SurveyStore(tmp_path / "surveys.sqlite")
    yield s
    s.close()


def _run_with(store: SurveyStore, source: MeterSource | None) -> tuple[list[str], list[str], str]:
    doc = fluoroscopy_plan(anode_current_mA=2)
    sid = new_session(store, doc, profile=TechnicianProfile())
    said: list[str] = []
    SurveyFlow(store=store, survey_id=sid, ui=SilentUI(said.append), plan=doc, source=source).run()
    return said, list(store.get(sid).metadata.get("warnings") or []), sid


def test_a_gm_counter_gets_the_p32_warning_without_anyone_typing_its_specs(store: SurveyStore) -> None:
    from radsurvey.daemon.report import render_report

    with PtyEmulator(GmcDevice(model="gmc-500+-2.28")) as emu:
        source = MeterSource("gmc", options={"port": emu.port, "sensitivity_cpm_per_uSv_h": 153.8}, timeout_s=30)
        try:
            said, warnings, sid = _run_with(store, source)
        finally:
            source.close()
    p32 = [w for w in warnings if w.startswith("instrument unfit for this survey (App. 14 p.32)")]
    assert len(p32) == 2, warnings
    assert "GQ GMC-500/500+" in p32[0] and "does not reach 15 keV" in p32[0]
    assert "under-reads in pulsed X-ray fields" in p32[1]
    assert any(line == f"warning: {p32[0]}" for line in said)
    report = render_report(store.get(sid).document(), fmt="json", lang="en")
    assert "does not reach 15 keV" in report and "under-reads in pulsed X-ray fields" in report


def test_a_meter_the_tables_do_not_condemn_gets_no_p32_warning(store: SurveyStore) -> None:
    source = MeterSource("simulated", options={"mode": "survey", "seed": 1}, timeout_s=30)
    try:
        _said, warnings, _sid = _run_with(store, source)
    finally:
        source.close()
    assert not [w for w in warnings if "App. 14 p.32)" in w]
