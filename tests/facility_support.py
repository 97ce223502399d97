"""A facility file and survey documents for facility tests (built from the worked example)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"

FACILITY_TOML = """\
schema = "radsurvey.facility/1"
name = "City Polyclinic No. 7 (example)"
department = "X-ray department"

[[rooms]]
name = "X-ray room 204"
floor = "2"
monitors = ["desk"]
adjacent = [{ space = "registry office 205", category = 2 }]

[[rooms]]
name = "Dental room 3"
floor = "1"

[[apparatus]]
id = "R-500"
room = "X-ray room 204"
table1 = "radiography"
maker = "Example"
model = "R-500"
serial = "R500-06-1187"
tube_serial = "T-1"
sanitary_conclusion = "No. 0417 of 2008-03-03"
gen_number = "GEN-77"

[[instruments]]
id = "gmc-1"
maker = "GQ Electronics"
model = "GMC-320+"
driver = "gmc"

[[instruments]]
id = "DR2-0312"
model = "Example Dose-Rate Meter DR-2"
serial = "DR2-0312"
driver = "gmc"
certificate_number = "V-1"
certificate_expires = "2030-01-01"

[[equipment]]
id = "apron-1"
kind = "apron"
room = "X-ray room 204"
lead_equivalent_mm = 0.35
app10 = "apron_one_sided_heavy"
"""


def survey(
    day: date,
    *,
    complies: bool,
    survey_id: str,
    room: str = "X-ray room 204",
    facility: str = "City Polyclinic No. 7 (example)",
) -> dict[str, Any]:
    """The worked example dated ``day``; it fails at A1, so a complying one leaves A1 out."""
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["survey_id"] = survey_id
    doc["id"] = survey_id
    doc["date"] = day.isoformat()
    doc["facility"]["name"] = facility
    doc["room"]["name"] = room
    doc["instrument"]["verification_certificate"]["expires"] = "2099-01-01"
    if complies:
        doc["points"] = [p for p in doc["points"] if p["id"] != "A1"]
    return doc


def write_survey(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
