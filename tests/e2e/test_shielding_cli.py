"""``radsurvey shielding barrier`` as a user runs it: the JSON contract, the table, one line on bad input."""

from __future__ import annotations

import json

import pytest

BASE = (
    "shielding",
    "barrier",
    "--apparatus",
    "radiography",
    "--distance-m",
    "2",
    "--beam",
    "primary",
    "--category",
    "1",
)


def test_barrier_json_has_the_contract_keys_with_hand_computed_values(run_cli) -> None:
    out = run_cli(*BASE, "--material", "brick_1_8", "--thickness-mm", "250", "--format", "json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert {
        k: doc[k] for k in ("K_R", "workload_mA_min_per_week", "anode_voltage_kV", "N", "D0_uGy_h", "DMD_uGy_h")
    } == {
        "K_R": 9,
        "workload_mA_min_per_week": 1000,
        "anode_voltage_kV": 100,
        "N": 1,
        "D0_uGy_h": 75000,
        "DMD_uGy_h": 13,
    }
    assert doc["K"] == pytest.approx(75000 / 13, rel=1e-15)
    assert (doc["table_K_row"], doc["lead_mm"]) == (6000, 2.2)
    assert (doc["installed_lead_equivalent_mm"], doc["sufficient"]) == (2, False)
    assert any(n["paragraph"] == "radsurvey" and "next row up" in n["text"] for n in doc["notes"])


def test_barrier_exactly_on_a_row_from_the_command_line(run_cli) -> None:
    out = run_cli(
        "shielding",
        "barrier",
        "--apparatus",
        "other",
        "--workload",
        "12000",
        "--anode-voltage-kV",
        "100",
        "--distance-m",
        "1.2",
        "--beam",
        "primary",
        "--category",
        "2",
        "--format",
        "json",
    )
    doc = json.loads(out.stdout)
    assert (doc["K"], doc["table_K_row"], doc["lead_mm"]) == (1_000_000, 1_000_000, 4.0)


def test_barrier_without_a_material_has_no_installed_keys(run_cli) -> None:
    doc = json.loads(run_cli(*BASE, "--format", "json").stdout)
    assert "installed_lead_equivalent_mm" not in doc and "sufficient" not in doc


def test_barrier_table_shows_the_verdict_and_the_paragraphs(run_cli) -> None:
    out = run_cli(*BASE, "--material", "lead", "--thickness-mm", "2.2", "--format", "table")
    assert out.returncode == 0, out.stderr
    assert "required lead, mm Pb" in out.stdout and "sufficient" in out.stdout and "NOT" not in out.stdout
    assert "[radsurvey] K = 5769.23 lies between Table 2 rows" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("shielding", "barrier", "--apparatus", "radiography"), "--distance-m is required"),
        ((*BASE[:-1], "seven"), "--category: must be an App. 7 row number 1-7, got 'seven'"),
        ((*BASE, "--kr", "nine"), "--kr: not a number: 'nine'"),
        ((*BASE, "--material", "lead"), "--material and --thickness-mm go together"),
        ((*BASE, "--material", "wood", "--thickness-mm", "5"), "unknown material 'wood'"),
        ((*BASE[:-1], "9"), "category: unknown category 9"),
        (
            ("shielding", "barrier", *BASE[2:6], "--beam", "sideways", "--category", "1"),
            "--beam: must be primary, moving or scatter",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(run_cli, args: tuple[str, ...], message: str) -> None:
    out = run_cli(*args, "--format", "json")
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr and out.stdout == ""


def test_room_document_as_html_and_json(run_cli, tmp_path) -> None:
    from .conftest import REPO

    room = REPO / "protocols" / "examples" / "shielding-room.toml"
    html = run_cli("shielding", "room", str(room), "--lang", "ro")
    assert html.returncode == 0, html.stderr
    assert "Calculul ecranării" in html.stdout and "insuficientă" in html.stdout
    doc = json.loads(run_cli("shielding", "room", str(room), "--format", "json").stdout)
    assert doc["sufficient"] is False and doc["barriers"][0]["required_lead_mm"] == 2.2
    out = tmp_path / "room.html"
    assert run_cli("shielding", "room", str(room), "--out", str(out)).returncode == 0 and out.is_file()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema = 1\n", "schema: must be 'radsurvey.shielding-room/1'"),
        ("not toml [", "invalid TOML"),
    ],
)
def test_room_bad_file_exits_2_with_one_line(run_cli, tmp_path, text: str, message: str) -> None:
    path = tmp_path / "room.toml"
    path.write_text(text, encoding="utf-8")
    out = run_cli("shielding", "room", str(path))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr


def test_room_pdf_needs_out_and_a_missing_file_is_named(run_cli, tmp_path) -> None:
    from .conftest import REPO

    room = REPO / "protocols" / "examples" / "shielding-room.toml"
    out = run_cli("shielding", "room", str(room), "--format", "pdf")
    assert out.returncode == 2 and "--format pdf needs --out FILE" in out.stderr
    missing = run_cli("shielding", "room", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml: file not found" in missing.stderr


def test_evaluate_reads_the_shielding_design_beside_the_survey_or_from_design(run_cli, tmp_path) -> None:
    import shutil

    from .conftest import REPO

    survey = json.loads((REPO / "protocols" / "examples" / "worked-example.json").read_text(encoding="utf-8"))
    survey["points"][1]["barrier"] = "W1"
    shutil.copy(REPO / "protocols" / "examples" / "shielding-room.toml", tmp_path / "room.toml")
    path = tmp_path / "survey.json"
    path.write_text(json.dumps({**survey, "shielding_design": "room.toml"}), encoding="utf-8")
    out = run_cli("evaluate", str(path), "--format", "json", cwd=REPO)  # relative to the survey, not the cwd
    assert out.returncode == 0, out.stderr
    s1 = json.loads(out.stdout)["points"][1]
    assert s1["design"]["predicted_effective_uSv_h"] == 0.625
    path.write_text(json.dumps(survey), encoding="utf-8")
    given = json.loads(
        run_cli("evaluate", str(path), "--format", "json", "--design", str(tmp_path / "room.toml")).stdout
    )
    assert given["points"][1]["design"] == s1["design"]
    table = run_cli(
        "evaluate", str(path), "--format", "table", "--design", str(tmp_path / "room.toml"), env={"COLUMNS": "200"}
    )
    row = next(line for line in table.stdout.splitlines() if line.strip().startswith("S1") and "W1" in line)
    assert row.split()[-2:] == ["0.625", "0.4115"]  # predicted beside measured E
    missing = run_cli("evaluate", str(path), "--design", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "shielding_design: " in missing.stderr and "nope.toml: file not found" in missing.stderr


def test_an_imported_survey_keeps_its_design_and_its_report_shows_the_prediction(run_cli, tmp_path) -> None:
    import shutil

    from .conftest import REPO

    folder = tmp_path / "surveys"
    folder.mkdir()
    shutil.copy(REPO / "protocols" / "examples" / "shielding-room.toml", folder / "room.toml")
    survey = json.loads((REPO / "protocols" / "examples" / "worked-example.json").read_text(encoding="utf-8"))
    survey["points"][1]["barrier"] = "W1"
    (folder / "s.json").write_text(json.dumps({**survey, "shielding_design": "room.toml"}), encoding="utf-8")
    journal = str(tmp_path / "j.sqlite")
    imported = run_cli("survey", "import", "surveys/s.json", "--journal", journal, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    survey_id = imported.stdout.split()[-1]
    exported = json.loads(run_cli("survey", "export", survey_id, "--journal", journal).stdout)
    assert exported["shielding_design"] == str(folder / "room.toml")  # made absolute: the journal has no folder
    report = json.loads(run_cli("report", survey_id, "--journal", journal, "--format", "json", cwd=REPO).stdout)
    assert report["evaluation"]["points"][1]["design"]["predicted_effective_uSv_h"] == 0.625


def test_a_guided_survey_from_a_plan_keeps_the_barrier_and_the_design(run_cli, tmp_path) -> None:
    import shutil

    from .conftest import REPO

    shutil.copy(REPO / "protocols" / "examples" / "shielding-room.toml", tmp_path / "room.toml")
    plan = json.loads((REPO / "protocols" / "examples" / "worked-example.json").read_text(encoding="utf-8"))
    plan["points"][1]["barrier"] = "W1"
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "shielding_design": "room.toml"}), encoding="utf-8")
    journal = str(tmp_path / "j.sqlite")
    started = run_cli("survey", "start", "--plan", "plan.json", "--yes", "--id", "S-1", "--journal", journal)
    assert started.returncode == 0, started.stderr
    report = json.loads(run_cli("report", "S-1", "--journal", journal, "--format", "json", cwd=REPO).stdout)
    assert report["evaluation"]["points"][1]["design"]["barrier"] == "W1"
