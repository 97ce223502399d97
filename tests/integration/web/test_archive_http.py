"""The central survey archive over HTTP: two technicians' laptops push protocols to one central console.

The console's survey push (``POST /api/facility/surveys``, docs/facility.md) files each survey id
once: the same document pushed again, from the same or another machine, is answered 200 with
``already_filed`` and changes nothing, so a laptop can send its whole list again after a failure without
duplicates; another document under a filed id is refused with one line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.facility_support import survey

from .test_web_facility import Laptop, console  # noqa: F401 - the central console (a real daemon) and its client

pytestmark = pytest.mark.integration

ROOM = "Dental room 3"


def filed(tmp: Path) -> list[str]:
    exe = str(Path(sys.executable).with_name("radsurvey"))
    out = subprocess.run(
        [exe, "facility", "surveys", "--config", "cfg.toml", "--format", "json"],
        cwd=tmp, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return sorted(r["id"] for r in json.loads(out.stdout))


def test_two_laptops_archive_on_a_central_console_once_per_survey_id(console: tuple[str, Path]) -> None:  # noqa: F811
    base, tmp = console
    today = datetime.now(UTC).date()
    first, second = Laptop(base, "timur"), Laptop(base, "anna")
    docs = {sid: survey(today, complies=True, survey_id=sid, room=ROOM) for sid in ("ARCH-A", "ARCH-B")}

    def push(laptop: Laptop, sid: str) -> tuple[int, object]:
        return laptop.call("POST", "/api/facility/surveys", {"room": ROOM, "survey": docs[sid]})

    before = filed(tmp)
    assert push(first, "ARCH-A")[0] == 201
    assert push(second, "ARCH-B")[0] == 201
    for laptop in (first, second):  # sent again, from its own machine and from the other
        status, body = push(laptop, "ARCH-A")
        assert status == 200 and isinstance(body, dict) and body["already_filed"] is True, body
    changed = {**docs["ARCH-A"], "background_uGy_h": [0.2, 0.2, 0.2]}
    status, body = second.call("POST", "/api/facility/surveys", {"room": ROOM, "survey": changed})
    assert (status, body) == (
        400,
        {"error": "the pushed survey: id: survey 'ARCH-A' is already filed with a different document or room"},
    )
    assert filed(tmp) == sorted([*before, "ARCH-A", "ARCH-B"])
