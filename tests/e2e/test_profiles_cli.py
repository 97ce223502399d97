"""User profiles as a user brings them: listed, checked, used by ``evaluate`` and by ``run`` (issue 9 §3)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from .conftest import REPO

KZ = REPO / "protocols" / "profiles" / "kz_2008_303.toml"
EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"

LIMITS = """\
schema = "radsurvey.limits/1"
id = "clinic-limits"
version = "3"
title = "Clinic's own dose constraints"
source = "Clinic radiation protection programme, section 4"
status = "in force"

[[limits]]
key = "staff_week"
description = "Dose constraint for staff, any 7 days"
period = "week"
applies_to = "staff"
value_mSv = 0.4
source = "programme 4.2"
"""


def strict_kz() -> str:
    """kz-2008-303 under another id, category 1 at 2 uSv/h instead of 13."""
    text = KZ.read_text(encoding="utf-8").replace('id = "kz-2008-303"', 'id = "clinic-strict"', 1)
    assert "dmd_uSv_h = 13\n" in text
    return text.replace("dmd_uSv_h = 13\n", "dmd_uSv_h = 2\n", 1)


@pytest.fixture
def home(tmp_path: Path) -> dict[str, str]:
    """A user config directory in a temp dir holding a survey profile and a limits profile."""
    d = tmp_path / "xdg" / "radsurvey" / "profiles"
    d.mkdir(parents=True)
    (d / "clinic-strict.toml").write_text(strict_kz(), encoding="utf-8")
    (d / "clinic-limits.toml").write_text(LIMITS, encoding="utf-8")
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def test_user_profiles_are_listed_with_their_origin(run_cli, home: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("profiles", "list", "--format", "json", env=home)
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)["profiles"]}
    assert rows["clinic-strict"]["origin"] == "user" and rows["clinic-strict"]["kind"] == "survey"
    assert rows["clinic-limits"] == {
        "id": "clinic-limits",
        "version": "3",
        "kind": "limits",
        "origin": "user",
        "path": str(tmp_path / "xdg" / "radsurvey" / "profiles" / "clinic-limits.toml"),
        "title": "Clinic's own dose constraints",
    }
    assert rows["ir-1973-limits"]["origin"] == "package" and rows["kz-2008-303"]["origin"] == "package"


def test_check_accepts_a_good_file_and_names_every_problem_of_a_bad_one(run_cli, home, tmp_path: Path) -> None:
    good = tmp_path / "xdg" / "radsurvey" / "profiles" / "clinic-limits.toml"
    ok = run_cli("profiles", "check", str(good), env=home)
    assert ok.returncode == 0 and "ok (limits profile clinic-limits v3)" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(LIMITS.replace('period = "week"', 'period = "month"').replace("0.4", "-1"), encoding="utf-8")
    result = run_cli("profiles", "check", str(bad), env=home)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{bad}: limits[0].period: Input should be 'week', '13_weeks' or 'year'",
        f"{bad}: limits[0].value_mSv: Input should be greater than 0",
    ]


def test_show_prints_the_limits_with_their_sources(run_cli, home) -> None:
    result = run_cli("profiles", "show", "clinic-limits", env=home)
    assert result.returncode == 0, result.stderr
    assert "dose limits only (no survey method)" in result.stdout
    assert "staff_week | week | 0.4 | staff | programme 4.2" in result.stdout


def test_evaluate_uses_a_user_profile_named_by_id_or_by_file(run_cli, home, tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["protocol"] = "clinic-strict"
    survey = tmp_path / "survey.json"
    survey.write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli("evaluate", str(survey), env=home)
    assert result.returncode == 0, result.stderr
    r1 = json.loads(result.stdout)["points"][0]
    assert (r1["id"], r1["limit_uSv_h"], r1["verdict"]) == ("R1", 2.0, "fail")  # 2.875 > 2 under the user's profile

    doc["protocol"] = str(tmp_path / "xdg" / "radsurvey" / "profiles" / "clinic-strict.toml")
    survey.write_text(json.dumps(doc), encoding="utf-8")
    by_file = run_cli("evaluate", str(survey))  # no user directory: the file itself
    assert by_file.returncode == 0, by_file.stderr
    assert json.loads(by_file.stdout)["points"][0]["limit_uSv_h"] == 2.0


def test_a_limits_profile_is_refused_as_a_surveys_method(run_cli, home, tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["protocol"] = "clinic-limits"
    survey = tmp_path / "survey.json"
    survey.write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli("evaluate", str(survey), env=home)
    assert result.returncode == 2
    assert "dose limits only, no survey method" in result.stderr and len(result.stderr.splitlines()) == 1


def run_config(tmp_path: Path, protocol: str, *, profiles: list[str] | None = None) -> Path:
    cfg = tmp_path / "site.toml"
    lines = [f"profiles = {json.dumps(profiles)}"] if profiles else []
    lines += [
        '[site]\nid = "p"',
        f'[journal]\npath = "{tmp_path / "j.sqlite"}"\ncommit_interval_s = 0.2',
        '[[meters]]\nid = "sim"\ndriver = "simulated"\npoll_interval_s = 0.2\nseed = 1\nbackground_uGy_h = 0.2\n'
        "beam_uGy_h = 10.0\nbeam_period_s = 2\nbeam_on_s = 1",
        f'[[channels]]\nid = "desk"\nmeter = "sim"\nroom_category = 1\nprotocol = "{protocol}"',
        '[[channels.alarms]]\nkind = "dose_budget"\nlimit = "clinic-limits/staff_week"\nmin_elapsed_s = 0',
    ]
    cfg.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
    return cfg


def test_run_uses_user_profiles_for_the_channel_and_its_dose_budget(run_cli, home, tmp_path: Path) -> None:
    cfg = run_config(tmp_path, "clinic-strict")
    result = run_cli("run", "--config", str(cfg), "--duration", "3", env=home, timeout_s=60)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "j.sqlite") as conn:
        limits = {r[0] for r in conn.execute("SELECT limit_uSv_h FROM samples")}
        levels = {r[0] for r in conn.execute("SELECT level FROM alarm_events WHERE rule = 'dose_budget'")}
    assert limits == {2.0}  # category 1 of clinic-strict
    assert levels == {0.4}  # judged against the user limits profile's weekly 0.4 mSv


def test_run_with_profile_files_named_in_the_config(run_cli, home, tmp_path: Path) -> None:
    d = tmp_path / "xdg" / "radsurvey" / "profiles"
    cfg = run_config(tmp_path, str(d / "clinic-strict.toml"), profiles=[str(d / "clinic-limits.toml")])
    checked = run_cli("config", "check", str(cfg))  # no user directory in the environment
    assert checked.returncode == 0, checked.stderr
    result = run_cli("run", "--config", str(cfg), "--duration", "2", timeout_s=60)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "j.sqlite") as conn:
        assert {r[0] for r in conn.execute("SELECT limit_uSv_h FROM samples")} == {2.0}


def test_a_report_naming_a_limits_profile_says_whose_maths_the_survey_uses(run_cli, tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["limits_profile"] = "ir-1973-limits"
    survey = tmp_path / "survey.json"
    survey.write_text(json.dumps(doc), encoding="utf-8")
    result = run_cli("report", str(survey), "--format", "json")
    assert result.returncode == 0, result.stderr
    statement = json.loads(result.stdout)["limits_statement"]
    assert statement == (
        "Dose limits: ir-1973-limits v1, which defines dose limits only, no survey method; the survey maths "
        "(formulas, permissible dose rates, verdicts) are those of the survey profile kz-2008-303 v2."
    )
