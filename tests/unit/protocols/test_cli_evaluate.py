"""``radsurvey evaluate`` and ``radsurvey tables``: output, exit codes, one-line errors."""

import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from radsurvey.daemon.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def write(tmp_path):
    """Write a survey document (dict as JSON/TOML, or raw text) and return its path."""

    def write_file(content, name="survey.json"):
        path = tmp_path / name
        if isinstance(content, dict):
            content = json.dumps(content)
        path.write_text(content, encoding="utf-8")
        return path

    return write_file


def one_line_error(result, path, field=None):
    """The command failed with exit 2 and exactly one stderr line naming the file (and field)."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    prefix = f"radsurvey: error: {path}: " + (f"{field}: " if field else "")
    assert lines[0].startswith(prefix), lines[0]
    return lines[0][len(prefix) :]


def test_evaluate_prints_the_evaluation_as_json(write, worked_example):
    path = write(worked_example())
    result = run("evaluate", path)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "radsurvey.evaluation/1"
    assert document["verdict"] == "fail"
    assert [p["id"] for p in document["points"]] == ["R1", "S1", "A1"]
    assert set(document["points"][0]["heights"]) == {"30", "80", "120", "160"}


def test_evaluate_exits_0_for_a_passing_survey(write, minimal_survey):
    result = run("evaluate", write(minimal_survey()))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["verdict"] == "pass"


def test_evaluate_reads_toml(write, example_text):
    result = run("evaluate", write(example_text("toml"), "survey.toml"))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["points"][2]["formula"] == "4"


def test_formula3_option_overrides_the_file(write, worked_example):
    result = run("evaluate", write(worked_example()), "--formula3", "conservative")
    document = json.loads(result.stdout)
    assert document["formula3"] == "conservative"
    assert document["points"][1]["effective_dose_rate_uSv_h"] == pytest.approx(0.25 * 14.8 / 7.2)


def test_evaluate_prints_tables_with_verdicts(write, worked_example):
    result = run("evaluate", write(worked_example()), "--format", "table")
    assert result.exit_code == 0, result.output
    assert "Survey verdict: FAIL" in result.stdout
    a1 = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("A1 "))
    assert "2.771" in a1
    assert "FAIL" in a1
    # The README's example: its instrument declares 0.05-10 000 uGy/h, so a 0.09 uGy/h background is no warning.
    assert "outside" not in result.stdout


def test_a_missing_file_is_one_line(tmp_path):
    path = tmp_path / "absent.json"
    assert one_line_error(run("evaluate", path), path) == "file not found"


def test_a_directory_is_one_line(tmp_path):
    assert "is a directory" in one_line_error(run("evaluate", tmp_path), tmp_path)


def test_an_unsupported_suffix_is_one_line(write, minimal_survey):
    path = write(minimal_survey(), "survey.yaml")
    assert "unsupported file type '.yaml'" in one_line_error(run("evaluate", path), path)


def test_text_that_is_not_utf8_is_one_line(tmp_path):
    path = tmp_path / "survey.json"
    path.write_bytes(b'{"schema": "\xff"}')
    assert "not UTF-8" in one_line_error(run("evaluate", path), path)


def test_invalid_json_is_one_line_with_the_line_number(write):
    path = write('{\n  "schema": "radsurvey.survey/1",\n  "points": [,]\n}')
    assert "line 3" in one_line_error(run("evaluate", path), path)


def test_invalid_toml_is_one_line_with_the_line_number(write):
    path = write('schema = "radsurvey.survey/1"\nprotocol = = 3\napparatus = "ct"\n', "survey.toml")
    assert "line 2" in one_line_error(run("evaluate", path), path)


def _change_point(**fields):
    return lambda data: data["points"][0].update(fields)


def _change_heights(readings):
    return _change_point(readings_uGy_h=readings)


INVALID = {
    "too-few-readings": (
        _change_heights({"80": [1.0, 1.0]}),
        "points[P1].readings_uGy_h.80",
        "at least 3 readings required, got 2",
    ),
    "negative-reading": (
        _change_heights({"80": [1.0, -1.0, 1.0]}),
        "points[P1].readings_uGy_h.80[1]",
        ">= 0",
    ),
    "non-finite-background": (
        lambda d: d.update(background_uGy_h=[0.1, float("nan"), 0.1]),
        "background_uGy_h[1]",
        "finite",
    ),
    "too-few-background-readings": (
        lambda d: d.update(background_uGy_h=[]),
        "background_uGy_h",
        "at least 3 background readings",
    ),
    "unknown-apparatus": (
        lambda d: d.update(apparatus="xray_9000"),
        "apparatus",
        "unknown apparatus",
    ),
    "zero-anode-current": (_change_point(anode_current_mA=0), "points[P1].anode_current_mA", "> 0"),
    "unknown-category": (
        _change_point(category=12),
        "points[P1].category",
        "unknown room category",
    ),
    "unsupported-heights": (
        _change_heights({"30": [1.0] * 3, "160": [1.0] * 3}),
        "points[P1].readings_uGy_h",
        "unsupported height combination 30/160 cm",
    ),
    "height-not-a-number": (
        _change_heights({"knee": [1.0] * 3}),
        "points[P1].readings_uGy_h.knee",
        "whole number",
    ),
    "duplicate-point-ids": (
        lambda d: d["points"].append(dict(d["points"][0])),
        "points[P1]",
        "used more than once",
    ),
    "unknown-protocol": (lambda d: d.update(protocol="kz-1999"), "protocol", "unknown protocol"),
    "unknown-schema": (lambda d: d.update(schema="radsurvey.survey/9"), "schema", "unknown schema"),
}


@pytest.mark.parametrize(("change", "field", "message"), INVALID.values(), ids=INVALID.keys())
def test_an_invalid_survey_is_one_line_naming_the_field(write, minimal_survey, change, field, message):
    data = minimal_survey()
    change(data)
    path = write(data)
    assert message in one_line_error(run("evaluate", path), path, field)


def test_tables_lists_workloads_and_limits():
    result = run("tables")
    assert result.exit_code == 0, result.output
    long_distance = next(line for line in result.stdout.splitlines() if "therapy_long_distance" in line)
    assert "1200" in long_distance
    assert "Room categories" in result.stdout


def test_tables_as_json_is_the_profile():
    result = run("tables", "--protocol", "kz-2008-303", "--format", "json")
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert profile["id"] == "kz-2008-303"
    assert [c["dmd_uSv_h"] for c in profile["categories"]] == [13, 2.5, 10, 40, 1.3, 2.8, 0.3]


def test_tables_for_an_unknown_protocol_is_one_line():
    result = run("tables", "--protocol", "kz-1999")
    assert result.exit_code == 2
    assert result.stderr == "radsurvey: error: unknown protocol 'kz-1999'; known: kz-2008-303\n"


def test_importing_the_cli_loads_neither_pydantic_nor_rich():
    code = (
        "import sys, radsurvey.daemon.cli\n"
        "heavy = ('pydantic', 'rich', 'radsurvey.protocols.survey')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ, check=True)
    assert done.stdout.strip() == ""


FLUOROSCOPY_AT_1_MA = {
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
            "readings_uGy_h": {"80": [10.0, 10.0, 10.0]},
        }
    ],
}


def test_a_p15_condition_is_a_warning_and_with_strict_an_error(write):
    path = write(FLUOROSCOPY_AT_1_MA)
    result = run("evaluate", path, "--format", "json")
    assert result.exit_code == 0
    (warning,) = [w for w in json.loads(result.stdout)["warnings"] if w["paragraph"] == "p.15"]
    assert warning["text"].startswith("points[F1].anode_current_mA: 1 mA is below the 2 mA")
    strict = run("evaluate", path, "--strict")
    assert strict.exit_code == 2
    assert "points[F1].anode_current_mA: 1 mA is below the 2 mA App. 14 p.15 requires in fluoroscopy" in strict.stderr
    assert "(--strict)" in strict.stderr


def test_the_table_shows_measured_and_nominal_heights_and_k(write):
    survey = json.loads(json.dumps(FLUOROSCOPY_AT_1_MA))
    survey["apparatus"] = "dental_film"
    point = survey["points"][0]
    point.update(category=7, kind="wall", anode_current_mA=2, anode_voltage_kV=70)
    point["readings_uGy_h"] = {"90": [36.0] * 3, "130": [36.0] * 3}
    point["design_attenuation_factor"] = {"value": 5, "source": "design sheet 2"}
    result = run("evaluate", write(survey), "--format", "table")
    assert result.exit_code == 0, result.output
    assert "0.75 / K 5 = 0.15" in result.stdout
    assert re.search(r"F1\s+90\s+80\s", result.stdout) and re.search(r"F1\s+130\s+120\s", result.stdout)
    assert "K at F1: 5 (design sheet 2), App. 14 p.25" in result.stdout
