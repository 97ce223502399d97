"""``radsurvey survey ...`` and ``radsurvey report`` as commands."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from radsurvey.daemon.cli import app
from radsurvey.daemon.survey.evaluation import evaluate_document

PLAN = """\
schema = "radsurvey.survey/1"
protocol = "kz-2008-303"
apparatus = "ct"

[metadata.facility]
name = "Clinic"
[[metadata.instruments]]
model = "DKS"
serial = "9"
energy_min_keV = 15
energy_max_keV = 3000
dose_rate_min_uGy_h = 0.1
dose_rate_max_uGy_h = 1000
certificate_number = "C-9"
certificate_expires = 2001-01-01

[[points]]
id = "B1"
room = "below"
category = 3
kind = "below"
anode_current_mA = 2
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RADSURVEY_SURVEY_JOURNAL", str(tmp_path / "surveys.sqlite"))
    monkeypatch.setenv("RADSURVEY_PROFILE", str(tmp_path / "none.toml"))
    return tmp_path


@pytest.fixture
def example(tmp_path: Path) -> Path:
    path = tmp_path / "worked-example.json"
    path.write_text(
        resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_list_show_export_delete(env: Path, example: Path) -> None:
    code, out, _ = run("survey", "import", str(example), "--id", "WE")
    assert code == 0 and out.strip() == "WE"
    code, out, _ = run("survey", "list", "--json")
    assert [s["id"] for s in json.loads(out)] == ["WE"]
    code, out, _ = run("survey", "show", "WE", "--json")
    shown = json.loads(out)
    assert shown["status"] == "finished"
    assert shown["evaluation"]["verdict"] == "fail"
    code, out, _ = run("survey", "export", "WE", "--format", "toml", "--out", str(env / "we.toml"))
    assert code == 0
    code, out, _ = run("survey", "import", str(env / "we.toml"))
    assert code == 0 and out.strip() != "WE"  # the id is taken: a new one
    code, out, _ = run("survey", "delete", "WE", "--yes")
    assert code == 0
    code, _, err = run("survey", "show", "WE")
    assert code == 2 and "no survey 'WE'" in err


def test_import_refuses_a_file_that_does_not_evaluate(env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "schema": "radsurvey.survey/1",
                "protocol": "kz-2008-303",
                "apparatus": "ct",
                "background_uGy_h": [0.1, 0.1],
                "points": [],
            }
        ),
        encoding="utf-8",
    )
    code, _, err = run("survey", "import", str(bad))
    assert code == 2
    assert err.startswith("radsurvey: error: ") and "background_uGy_h" in err and len(err.strip().splitlines()) == 1


def test_report_of_a_file_and_of_a_session_are_the_same(env: Path, example: Path) -> None:
    run("survey", "import", str(example), "--id", "WE")
    _, from_file, _ = run("report", str(example), "--format", "csv")
    _, from_session, _ = run("report", "WE", "--format", "csv")
    rows_file = list(csv.reader(io.StringIO(from_file)))
    rows_session = list(csv.reader(io.StringIO(from_session)))
    assert [r[1:] for r in rows_file] == [r[1:] for r in rows_session]  # column 0 is the survey id


def test_non_interactive_start_with_a_meter_records_instrument_warnings(env: Path) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = run(
        "survey",
        "start",
        "--plan",
        str(plan),
        "--id",
        "CT1",
        "--yes",
        "--meter",
        "simulated",
        "--poll-interval",
        "0.01",
        "--meter-option",
        "background_uGy_h=2",
        "--meter-option",
        "counts_per_uGy=1e9",
        "--report",
        str(env / "r.json"),
        "--format",
        "json",
    )
    assert code == 0, out + err
    assert "expired on 2001-01-01" in out
    report = json.loads((env / "r.json").read_text(encoding="utf-8"))
    assert report["conclusion"] == "not_valid"  # the problem moved from the warnings to the validity reasons
    assert any("expired on 2001-01-01" in v["text"] for v in report["validity"])
    assert report["evaluation"]["points"][0]["formula"] == "4"
    # The readings the meter gave are the ones evaluated.
    _, exported, _ = run("survey", "export", "CT1")
    assert report["evaluation"] == evaluate_document(json.loads(exported)).to_dict()


def test_strict_refuses_an_expired_certificate(env: Path) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    code, _, err = run("survey", "new", "--plan", str(plan), "--strict")
    assert code == 2
    assert "instrument check failed (--strict)" in err and "expired" in err
    _, out, _ = run("survey", "list", "--json")
    assert json.loads(out) == []


def test_pdf_without_chromium_is_one_clear_line(env: Path, example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(env))
    monkeypatch.delenv("RADSURVEY_CHROMIUM", raising=False)
    code, _, err = run("report", str(example), "--format", "pdf", "--out", str(env / "r.pdf"))
    assert code == 2
    assert "install it" in err and len(err.strip().splitlines()) == 1


def test_a_meter_that_is_not_a_recorded_instrument_is_flagged(env: Path) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = run(
        "survey",
        "start",
        "--plan",
        str(plan),
        "--id",
        "ID1",
        "--yes",
        "--meter",
        "simulated",
        "--poll-interval",
        "0.01",
        "--meter-option",
        "serial=SIM-77",
        "--meter-option",
        "counts_per_uGy=1e9",
    )
    assert code == 0, out + err
    _, shown, _ = run("survey", "show", "ID1", "--json")
    warnings = json.loads(shown)["survey"]["metadata"]["warnings"]
    assert any("serial SIM-77 is not among the recorded instruments (9)" in w for w in warnings)


def bad_metadata_file(tmp_path: Path, example: Path) -> Path:
    doc = json.loads(example.read_text(encoding="utf-8"))
    doc["metadata"] = {"facility": "Clinic"}
    bad = tmp_path / "bad-meta.json"
    bad.write_text(json.dumps(doc), encoding="utf-8")
    return bad


def test_import_refuses_metadata_that_does_not_validate_and_stores_nothing(
    env: Path, example: Path, tmp_path: Path
) -> None:
    bad = bad_metadata_file(tmp_path, example)
    code, _, err = run("survey", "import", str(bad))
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert f"{bad}: metadata.facility: should be a JSON object or TOML table" in err
    _, out, _ = run("survey", "list", "--json")
    assert json.loads(out) == []


def test_report_of_a_file_with_bad_metadata_is_one_line(env: Path, example: Path, tmp_path: Path) -> None:
    bad = bad_metadata_file(tmp_path, example)
    code, out, err = run("report", str(bad), "--format", "html")
    assert code == 2 and out == ""
    expected = f"{bad}: metadata.facility: should be a JSON object or TOML table, got 'Clinic'"
    assert err.strip() == f"radsurvey: error: {expected}"


def test_a_malformed_stored_survey_is_listed_and_shown_with_a_warning(env: Path, example: Path) -> None:
    import sqlite3

    run("survey", "import", str(example), "--id", "GOOD")
    run("survey", "import", str(example), "--id", "OLD")
    with sqlite3.connect(env / "surveys.sqlite") as db:  # as an older radsurvey stored it
        db.execute("UPDATE surveys SET metadata = json_set(metadata, '$.metadata.facility', 'Clinic') WHERE id = 'OLD'")
    code, out, err = run("survey", "list")
    assert code == 0 and "GOOD" in out and "OLD" in out
    assert "warning: survey OLD: metadata.facility" in err
    code, out, _ = run("survey", "list", "--json")
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["GOOD"]["problem"] is None and "metadata.facility" in rows["OLD"]["problem"]
    code, out, _ = run("survey", "show", "OLD")
    assert code == 0
    assert "warning: survey OLD: metadata.facility" in out.replace("\n", " ")
    code, out, err = run("report", "OLD")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "survey OLD: metadata.facility" in err
    code, out, _ = run("survey", "export", "OLD")
    assert code == 0 and json.loads(out)["metadata"]["facility"] == "Clinic"  # nothing stored is lost


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_report_to_a_path_that_cannot_be_written_is_one_line(env: Path, example: Path, where: str) -> None:
    (env / "plain-file").write_text("x", encoding="utf-8")
    out = env if where == "a directory" else env / "plain-file" / "r.html"
    code, _, err = run("report", str(example), "--format", "html", "--out", str(out))
    assert code == 2
    assert err.startswith(f"radsurvey: error: {out}: cannot write the report: ")
    assert len(err.strip().splitlines()) == 1


def test_export_into_a_missing_directory_is_one_line(env: Path, example: Path) -> None:
    run("survey", "import", str(example), "--id", "WE")
    out = env / "missing" / "x.json"
    code, _, err = run("survey", "export", "WE", "--out", str(out))
    assert code == 2
    assert err.strip() == f"radsurvey: error: {out}: cannot write: No such file or directory"


def test_start_refuses_a_bad_language_before_creating_the_survey(env: Path) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    code, out, err = run("survey", "start", "--plan", str(plan), "--yes", "--lang", "de")
    assert code == 2 and out == ""
    assert err.strip() == "radsurvey: error: --lang 'de': use one of en, ru, kk, fa, ro"
    _, listed, _ = run("survey", "list", "--json")
    assert json.loads(listed) == []


def test_resume_refuses_a_bad_format_before_asking_anything(env: Path) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    _, sid, _ = run("survey", "new", "--plan", str(plan))
    code, out, err = run("survey", "resume", sid.strip(), "--yes", "--format", "docx")
    assert code == 2 and out == ""
    assert err.strip() == "radsurvey: error: --format 'docx': use one of html, pdf, csv, json"


def test_import_under_a_taken_id_is_refused_unless_a_new_id_is_asked_for(env: Path, example: Path) -> None:
    run("survey", "import", str(example), "--id", "WE")
    code, out, err = run("survey", "import", str(example), "--id", "WE")
    assert code == 2 and out == ""
    assert "survey 'WE' already exists; choose another --id, or add --new-id" in err
    assert len(err.strip().splitlines()) == 1
    code, out, err = run("survey", "import", str(example), "--id", "WE", "--new-id")
    assert code == 0 and out.strip() not in ("", "WE")
    assert f"note: survey id 'WE' is taken; stored as {out.strip()}" in err
    _, listed, _ = run("survey", "list", "--json")
    assert len(json.loads(listed)) == 2


@pytest.mark.parametrize("command", ["new", "start"])
def test_new_and_start_refuse_a_plan_with_bad_metadata_in_one_line(env: Path, command: str) -> None:
    plan = env / "plan.toml"
    plan.write_text(PLAN.replace('[metadata.facility]\nname = "Clinic"', '[metadata]\nfacility = "Clinic"'), "utf-8")
    code, _, err = run("survey", command, "--plan", str(plan), *(["--yes"] if command == "start" else []))
    assert code == 2
    assert err.strip().splitlines() == [
        f"radsurvey: error: {plan}: metadata.facility: should be a JSON object or TOML table, got 'Clinic'"
    ]
    _, listed, _ = run("survey", "list", "--json")
    assert json.loads(listed) == []
