"""``radsurvey facility ...`` as an HPO uses it (issue 19): register, filed surveys, holds, due, refusals, doses."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.facility_support import FACILITY_TOML, survey, write_survey

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date()
DUE_KEYS = {"room", "last_survey", "last_verdict", "last_survey_date", "next_due", "hold", "overdue"}


@pytest.fixture
def facility(tmp_path: Path, run_cli) -> Path:  # type: ignore[no-untyped-def]
    (tmp_path / "facility.toml").write_text(FACILITY_TOML, encoding="utf-8")
    db = tmp_path / "facility.sqlite"
    out = run_cli("facility", "import", "facility.toml", "--db", str(db), "--by", "hpo-anna")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "facility.toml: 6 added, 0 changed, 0 unchanged"
    return db


def due(run_cli, db: Path) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    out = run_cli("facility", "due", "--format", "json", "--db", str(db))
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert all(DUE_KEYS <= set(r) for r in rows)
    return {r["room"]: r for r in rows}


def dump(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table (to show a refused command changed nothing)."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in tables}


def file(run_cli, tmp_path: Path, db: Path, doc: dict, *extra: str):  # type: ignore[no-untyped-def]
    path = write_survey(tmp_path / f"{doc.get('id', 'survey')}.json", doc)
    return run_cli("facility", "import-survey", str(path), "--room", "X-ray room 204", "--db", str(db), *extra)


def test_a_new_apparatus_puts_its_room_on_hold_and_a_room_without_surveys_is_due(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    rooms = due(run_cli, facility)
    room = rooms["X-ray room 204"]
    assert room["hold"]["reason"] == "new apparatus R-500: no operation until verified"
    assert room["last_survey"] is None and room["last_verdict"] is None and room["next_due"] is None
    assert room["overdue"] is True
    assert rooms["Dental room 3"]["hold"] is None


def test_a_non_complying_survey_holds_the_room_and_a_later_complying_one_lifts_it(
    run_cli,
    tmp_path: Path,
    facility: Path,  # type: ignore[no-untyped-def]
) -> None:
    grant = run_cli("facility", "role", "grant", "anna", "hpo", "--db", str(facility), "--by", "anna")
    assert grant.returncode == 0, grant.stderr
    lift = run_cli(
        "facility",
        "hold",
        "lift",
        "X-ray room 204",
        "--reason",
        "acceptance test of the new unit",
        "--by",
        "anna",
        "--db",
        str(facility),
    )
    assert lift.returncode == 0, lift.stderr
    assert due(run_cli, facility)["X-ray room 204"]["hold"] is None

    bad_day = TODAY - timedelta(days=10)
    out = file(run_cli, tmp_path, facility, survey(bad_day, complies=False, survey_id="S-1"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith(f"does_not_comply ({bad_day.isoformat()}) - room on hold")
    room = due(run_cli, facility)["X-ray room 204"]
    assert room["last_survey"] == "S-1" and room["last_verdict"] == "does_not_comply"
    assert room["last_survey_date"] == bad_day.isoformat()
    assert room["hold"]["reason"] == "survey S-1 does not comply" and room["hold"]["since"]
    assert room["next_due"] is None

    good_day = TODAY - timedelta(days=3)
    out = file(run_cli, tmp_path, facility, survey(good_day, complies=True, survey_id="S-2"))
    assert out.returncode == 0, out.stderr
    room = due(run_cli, facility)["X-ray room 204"]
    assert room["hold"] is None and room["last_verdict"] == "complies"
    # p.107(1): quarterly = 3 calendar months after the complying survey
    month = good_day.month + 2
    expected = good_day.replace(year=good_day.year + month // 12, month=month % 12 + 1)
    assert room["next_due"] == expected.isoformat() and room["overdue"] is False

    history = json.loads(
        run_cli("facility", "history", "--entity", "hold", "--format", "json", "--db", str(facility)).stdout
    )
    assert [(h["action"], h["by"]) for h in history][-2:] == [
        ("placed", history[-2]["by"]),
        ("lifted", history[-1]["by"]),
    ]
    assert json.loads(history[-1]["new"]) == {"survey": "S-2"}


def test_a_complying_survey_dated_before_the_hold_does_not_lift_it(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    out = file(run_cli, tmp_path, facility, survey(TODAY - timedelta(days=2), complies=False, survey_id="S-bad"))
    assert out.returncode == 0, out.stderr
    out = file(run_cli, tmp_path, facility, survey(TODAY - timedelta(days=5), complies=True, survey_id="S-old"))
    assert out.returncode == 0, out.stderr
    assert due(run_cli, facility)["X-ray room 204"]["hold"] is not None


def test_only_an_hpo_lifts_a_hold_and_only_with_a_reason(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    before = dump(facility)
    out = run_cli("facility", "hold", "lift", "X-ray room 204", "--reason", "x", "--by", "bob", "--db", str(facility))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["radsurvey: error: by: account 'bob' may not do this (needs role hpo)"]
    assert dump(facility) == before


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown room", "room: unknown room 'Room 9' (rooms: Dental room 3, X-ray room 204)"),
        ("another facility", "metadata.facility.name: survey of another facility ('Other Clinic';"),
        ("future date", "metadata.survey_date: survey date"),
        ("other room", "metadata.facility.room: survey of room 'Dental room 3', not 'X-ray room 204'"),
    ],
)
def test_a_refused_survey_gets_one_line_and_changes_nothing(
    run_cli,
    tmp_path: Path,
    facility: Path,
    case: str,
    expected: str,  # type: ignore[no-untyped-def]
) -> None:
    doc = survey(TODAY - timedelta(days=1), complies=True, survey_id="S-x")
    room = "X-ray room 204"
    if case == "unknown room":
        room = "Room 9"
    elif case == "another facility":
        doc["facility"]["name"] = "Other Clinic"
    elif case == "future date":
        doc["date"] = (TODAY + timedelta(days=1)).isoformat()
    else:
        doc["room"]["name"] = "Dental room 3"
    path = write_survey(tmp_path / "s.json", doc)
    before = dump(facility)
    out = run_cli("facility", "import-survey", str(path), "--room", room, "--db", str(facility))
    assert out.returncode == 2, out.stdout
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert dump(facility) == before


def test_a_facility_file_with_a_bad_field_is_refused_whole(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    bad = FACILITY_TOML.replace("lead_equivalent_mm = 0.35", "lead_equivalent_mm = -1").replace(
        'floor = "1"', 'floor = "ground"'
    )
    (tmp_path / "bad.toml").write_text(bad, encoding="utf-8")
    before = dump(facility)
    out = run_cli("facility", "import", "bad.toml", "--db", str(facility))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "radsurvey: error: bad.toml: equipment.0.lead_equivalent_mm: Input should be greater than 0"
    ]
    assert dump(facility) == before


def test_a_new_tube_and_a_repair_put_the_room_on_hold(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("facility", "apparatus", "add", "R-500", "--tube-serial", "T-2", "--db", str(facility))
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "facility",
        "repair",
        "Dental room 3",
        "--what",
        "lead door seal",
        "--date",
        TODAY.isoformat(),
        "--db",
        str(facility),
    )
    assert out.returncode == 0, out.stderr
    rooms = due(run_cli, facility)
    assert "tube of R-500 replaced (T-1 -> T-2)" in rooms["X-ray room 204"]["hold"]["reason"]
    assert rooms["Dental room 3"]["hold"]["reason"] == "repair of protective parts: lead door seal"


def test_the_history_cannot_be_rewritten(facility: Path) -> None:
    with sqlite3.connect(facility) as conn:
        assert conn.execute("SELECT COUNT(*) FROM history").fetchone()[0] >= 5
        for sql in ("UPDATE history SET by = 'x'", "DELETE FROM history"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)


DOSES = """\
Name,From,To,Hp10 (mSv)
Ivanova,{y}-01-01,{y}-01-31,0.2
Ivanova,{y}-02-01,{y}-02-28,0.3
Petrov,{y}-01-01,{y}-01-31,3.5
Petrov,{y}-02-01,{y}-02-28,1.6
Sidorov,{y}-01-01,{y}-01-31,50.5
"""


def test_dosimetry_import_flags_10_percent_and_100_percent_of_the_limit(
    run_cli, tmp_path: Path, facility: Path
) -> None:  # type: ignore[no-untyped-def]
    year = TODAY.year - 1
    (tmp_path / "doses.csv").write_text(DOSES.format(y=year), encoding="utf-8")
    cols = [
        "--column",
        "worker=Name",
        "--column",
        "period_start=From",
        "--column",
        "period_end=To",
        "--column",
        "dose_mSv=Hp10 (mSv)",
    ]
    out = run_cli("facility", "dosimetry", "import", "doses.csv", *cols, "--db", str(facility))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "doses.csv: 5 records added, 0 already held"
    out = run_cli(
        "facility",
        "dosimetry",
        "flags",
        "--limit",
        "ir-1973-limits/whole_body_year",
        "--format",
        "json",
        "--db",
        str(facility),
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["limit"]["mSv"] == "50.0" and data["limit"]["source"].startswith("001:Art 3(a)")
    got = {r["worker"]: (r["dose_mSv"], r["flag"]) for r in data["rows"]}
    # 5 mSv is 10 % of 50: Art 14 flags *more than* 10 %; sums are exact decimals
    assert got == {"Ivanova": ("0.5", None), "Petrov": ("5.1", "above_10_percent"), "Sidorov": ("50.5", "above_limit")}


def test_a_malformed_dosimetry_csv_gets_one_line_and_nothing_is_imported(
    run_cli, tmp_path: Path, facility: Path
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "bad.csv").write_text(
        "worker,period_start,period_end,dose_mSv\nA,2025-01-01,2025-01-31,0.1\nB,2025-01-01,2025-01-31,lots\n",
        encoding="utf-8",
    )
    before = dump(facility)
    out = run_cli("facility", "dosimetry", "import", "bad.csv", "--db", str(facility))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "radsurvey: error: bad.csv: line 3: column 'dose_mSv': 'lots' is not a dose >= 0"
    ]
    assert dump(facility) == before


def test_a_switched_off_dosimetry_register_refuses_imports(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("facility", "dosimetry", "off", "--db", str(facility)).returncode == 0
    (tmp_path / "d.csv").write_text("worker,period_start,period_end,dose_mSv\nA,2025-01-01,2025-01-31,0.1\n")
    out = run_cli("facility", "dosimetry", "import", "d.csv", "--db", str(facility))
    assert out.returncode == 2 and "switched off" in out.stderr


def test_every_table_exports_as_csv_and_json(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    for fmt in ("csv", "json"):
        out = run_cli("facility", "export", "--out", f"x-{fmt}", "--format", fmt, "--db", str(facility))
        assert out.returncode == 0, out.stderr
        names = sorted(p.name for p in (tmp_path / f"x-{fmt}").iterdir())
        assert f"rooms.{fmt}" in names and f"history.{fmt}" in names and len(names) == 12
    rooms = json.loads((tmp_path / "x-json" / "rooms.json").read_text())
    assert [r["name"] for r in rooms] == ["X-ray room 204", "Dental room 3"]
    assert (tmp_path / "x-csv" / "apparatus.csv").read_text().splitlines()[0] == "id,room,record"


def test_show_lists_the_register_with_the_instrument_driver(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("facility", "show", "--format", "json", "--db", str(facility))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["facility"]["name"] == "City Polyclinic No. 7 (example)"
    inst = {i["id"]: i for i in data["instruments"]}
    dr2 = inst["DR2-0312"]
    assert dr2["expired"] is False and dr2["fitness"]["known"] is True and dr2["fitness"]["model"] is None
    gmc = inst["gmc-1"]["fitness"]  # what the gmc driver's model table says (drivers/gmc/models.py)
    assert gmc["model"]["model"] == "GQ GMC-320/320+/320S/320+V5" and gmc["model"]["pulsed_field_ok"] is False
    assert [p.split(":")[0] for p in gmc["p32_problems"]] == ["GQ GMC-320/320+/320S/320+V5"] * 2
    assert "under-reads in pulsed X-ray fields" in gmc["p32_problems"][1]
    assert data["apparatus"][0]["gen_number"] == "GEN-77"


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", ["Facility file", "What is due", "does not comply", "on hold"]),
        ("ru", ["Дело учреждения", "Сроки контроля", "не соответствует", "эксплуатация запрещена"]),
        ("kk", ["Мекеме ісі", "Бақылау мерзімдері"]),
        ("fa", ["پرونده مرکز", "موارد سررسید", 'dir="rtl"']),
        ("ro", ["Dosarul unității", "Termene de control"]),
    ],
)
def test_the_facility_file_is_printed_in_the_reports_five_languages(
    run_cli,
    tmp_path: Path,
    facility: Path,
    lang: str,
    words: list[str],  # type: ignore[no-untyped-def]
) -> None:
    assert (
        file(run_cli, tmp_path, facility, survey(TODAY - timedelta(days=2), complies=False, survey_id="S-9")).returncode
        == 0
    )
    out = run_cli("facility", "report", "--lang", lang, "--out", f"f-{lang}.html", "--db", str(facility))
    assert out.returncode == 0, out.stderr
    html = (tmp_path / f"f-{lang}.html").read_text(encoding="utf-8")
    for word in words:
        assert word in html
    assert "S-9" in html and "R500-06-1187" in html and "GEN-77" in html


def test_the_facility_file_as_pdf_lists_the_survey_history_and_holds(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    assert (
        file(run_cli, tmp_path, facility, survey(TODAY - timedelta(days=2), complies=False, survey_id="S-9")).returncode
        == 0
    )
    out = run_cli("facility", "report", "--format", "pdf", "--out", "f.pdf", "--db", str(facility), timeout_s=180)
    assert out.returncode == 0, out.stderr
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "f.pdf"), "-"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "Facility file" in text and "S-9" in text and "survey S-9 does not comply" in text
    assert "new apparatus R-500" in text


def test_an_inspection_below_the_app10_minimum_cannot_pass(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    before = dump(facility)
    inspect = ("facility", "equipment", "inspect", "apron-1", "--date", TODAY.isoformat(), "--lead-mm", "0.3")
    out = run_cli(*inspect, "--result", "pass", "--db", str(facility))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "radsurvey: error: lead_equivalent_mm: apron-1: 0.3 mm Pb is below the minimum 0.35 mm of"
        " apron_one_sided_heavy (App. 10 Table 2, L4539-4542 (kk L9429-9431); p.69): record --result fail"
    ]
    assert dump(facility) == before
    assert run_cli(*inspect, "--result", "fail", "--db", str(facility)).returncode == 0
    rows = json.loads(run_cli("facility", "equipment", "due", "--format", "json", "--db", str(facility)).stdout)
    assert rows[0]["last_result"] == "fail" and rows[0]["period_months"] == 3
    assert rows[0]["period_source"].startswith("ir-1973-limits: 001:Art 12(c)")


def test_an_item_registered_below_its_app10_minimum_is_refused(run_cli, facility: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_cli(
        "facility",
        "equipment",
        "add",
        "collar-9",
        "--kind",
        "collar",
        "--lead-mm",
        "0.2",
        "--app10",
        "collar_heavy",
        "--db",
        str(facility),
    )
    assert out.returncode == 2
    assert "collar-9: 0.2 mm Pb is below the minimum 0.35 mm of collar_heavy" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_a_survey_without_an_id_is_filed_under_the_day_and_the_room(run_cli, tmp_path: Path, facility: Path) -> None:  # type: ignore[no-untyped-def]
    doc = survey(TODAY - timedelta(days=1), complies=True, survey_id="x")
    del doc["id"], doc["survey_id"]
    out = file(run_cli, tmp_path, facility, doc)
    assert out.returncode == 0, out.stderr
    day = (TODAY - timedelta(days=1)).strftime("%Y%m%d")
    assert out.stdout.startswith(f"filed {day}-X-ray-room-204-01 under X-ray room 204: complies")


def test_a_survey_captured_on_this_machine_is_filed_from_the_survey_journal(
    run_cli, tmp_path: Path, facility: Path
) -> None:  # type: ignore[no-untyped-def]
    path = write_survey(tmp_path / "local.json", survey(TODAY, complies=True, survey_id="LOCAL-1"))
    journal = str(tmp_path / "surveys.sqlite")
    out = run_cli("survey", "import", str(path), "--journal", journal)
    assert out.returncode == 0, out.stderr
    out = run_cli(
        "facility",
        "file-survey",
        "LOCAL-1",
        "--room",
        "X-ray room 204",
        "--apparatus",
        "R-500",
        "--journal",
        journal,
        "--db",
        str(facility),
    )
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip() == f"filed LOCAL-1 under X-ray room 204: complies ({TODAY.isoformat()}) - 1 hold(s) lifted"
    )
    rows = json.loads(run_cli("facility", "surveys", "--format", "json", "--db", str(facility)).stdout)
    assert [(r["id"], r["apparatus"], r["source"]) for r in rows] == [("LOCAL-1", "R-500", "journal")]
    again = run_cli(
        "facility", "file-survey", "LOCAL-1", "--room", "X-ray room 204", "--journal", journal, "--db", str(facility)
    )
    assert again.returncode == 0, again.stderr  # the same survey filed again: idempotent, nothing changed
    assert again.stdout.strip() == "LOCAL-1 is already filed under X-ray room 204 with this document: nothing changed"
    rows = json.loads(run_cli("facility", "surveys", "--format", "json", "--db", str(facility)).stdout)
    assert [r["id"] for r in rows] == ["LOCAL-1"]
