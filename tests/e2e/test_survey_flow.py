"""The guided survey's rough edges (issue 10 §2), each driven through a real terminal (pexpect).

Every test runs the installed ``radsurvey`` on a pty as a technician would and
checks what the technician sees and what the journal keeps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pexpect
import pytest

from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.gmc.emulator import GmcDevice
from tests.e2e.conftest import REPO
from tests.e2e.test_survey_terminal import RADSURVEY, answer, default_sigint, spawn
from tests.survey_plans import PLAN

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(RADSURVEY is None, reason="radsurvey is not installed in this environment"),
]

PLAN_WITHOUT_OPTIONS = PLAN.replace('options = { formula3 = "literal" }\n', "")
EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "220",
        "RADSURVEY_SURVEY_JOURNAL": str(tmp_path / "surveys.sqlite"),
        "RADSURVEY_PROFILE": str(tmp_path / "no-profile.toml"),
    }


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(PLAN, encoding="utf-8")
    return path


def default(text: str) -> str:
    """The pattern of a prompt's shown default ``(text)``, rich's bold around it or not."""
    return r"\s*(?:\x1b\[[0-9;]*m)*\(" + re.escape(text) + r"\)"


def row(*cells: str) -> str:
    """The pattern of a table row holding ``cells`` in this order (box lines, padding and styles between)."""
    gap = r"[\s│┃|]+(?:\x1b\[[0-9;]*m)*"
    return gap.join(re.escape(cell) for cell in cells)


def finish(child: pexpect.spawn) -> None:
    child.expect(pexpect.EOF)
    child.close()


def show_json(env: dict[str, str], survey_id: str) -> dict:
    shown = subprocess.run(
        [RADSURVEY, "survey", "show", survey_id, "--json"], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(shown.stdout)


def test_a_counting_meter_without_sensitivity_is_refused_at_connect(tmp_path: Path, env, plan) -> None:
    device = GmcDevice(model="GMC-320+V5", cpm=300, seed=7)
    with PtyEmulator(device, link=tmp_path / "usb-GQ_GMC-320-if00-port0") as emu:
        args = ["survey", "start", "--plan", str(plan), "--id", "CPM", "--meter", "gmc"]
        child = spawn([*args, "--meter-option", f"port={emu.port}", "--poll-interval", "0.2"], env)
        child.expect(r"gives counts \(cpm\) and no sensitivity is set")
        child.expect(r"--meter-option\s+sensitivity_cpm_per_uSv_h=N")
        finish(child)
    assert child.exitstatus == 2
    assert "reading not used" not in (child.before or "")


def test_decimal_comma_text_at_enter_kind_from_category_in_band_heights_and_summary(env, plan) -> None:
    child = spawn(["survey", "start", "--plan", str(plan), "--id", "FLOW"], env)
    for value in ("0,10", "0,12", "0,11"):
        answer(child, r"background: reading \d, uGy/h", value)
    answer(child, r"Add the first measurement point\?", "y")
    answer(child, r"Point id", "W1")
    answer(child, r"Room / location", "corridor")
    answer(child, r"Position of the probe in the room", "")
    answer(child, r"Room category \(App\. 14 Table 2\)", "3")
    answer(child, r"Kind of point" + default("wall"), "")  # the default follows category 3
    answer(child, r"Heights above the floor, cm" + default("80 120"), "75 125")  # within +-20 cm
    answer(child, r"Anode current, mA", "4,0")
    answer(child, r"Anode voltage, kV", "100")
    child.expect(r"E by formula \(3\): E = 0\.25 \* \(D80 \+ 0\.5\*D120\)")  # before the first reading
    answer(child, r"Switch the X-ray apparatus ON at 100 kV, 4 mA", "")
    answer(child, r"Place the probe at 75 cm.*Press Enter when ready", "12.5")
    child.expect(r"'12\.5' was not used: this step waits for Enter alone")
    answer(child, r"Place the probe at 75 cm.*Press Enter when ready", "")
    for value in ("9,1", "8,9", "9,0"):
        answer(child, r"W1 75 cm: reading \d, uGy/h", value)
    answer(child, r"Place the probe at 125 cm", "")
    for value in ("6,1", "5,9", "6,0"):
        answer(child, r"W1 125 cm: reading \d, uGy/h", value)
    child.expect(r"PASS|FAIL")
    answer(child, r"Add a measurement point\?", "n")
    answer(child, r"Finish the survey and evaluate it\?", "y")
    child.expect(r"Survey summary")
    child.expect(row("W1", "corridor", "3", "(3)", "0.4109", "10", "0.041", "PASS"))  # background 0.11
    child.expect(r"Survey FLOW: PASS")
    answer(child, r"Write the report now\?", "n")
    finish(child)
    assert child.exitstatus == 0
    shown = show_json(env, "FLOW")
    (point,) = shown["survey"]["points"]
    assert point["kind"] == "wall" and point["anode_current_mA"] == 4.0
    assert point["readings_uGy_h"] == {"75": [9.1, 8.9, 9.0], "125": [6.1, 5.9, 6.0]}
    assert shown["survey"]["background_uGy_h"] == [0.1, 0.12, 0.11]
    heights = shown["evaluation"]["points"][0]["heights"]
    assert [(h["height_cm"], h["nominal_height_cm"]) for h in heights.values()] == [(75, 80), (125, 120)]


def test_simulated_meter_survey_mode_formula3_option_and_k_at_a_dwelling(tmp_path: Path, env) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN_WITHOUT_OPTIONS, encoding="utf-8")
    child = spawn(
        [
            *("survey", "start", "--plan", str(plan), "--id", "SIM", "--formula3", "conservative"),
            *("--meter", "simulated", "--poll-interval", "0.05"),
        ],
        env,
    )
    answer(child, "Switch the X-ray apparatus off", "")  # no formula (3) question: --formula3 answered it
    child.expect(r"Background: mean ([0-9.]+) uGy/h")
    assert float(child.match.group(1)) < 1
    answer(child, r"Add the first measurement point\?", "y")
    answer(child, r"Point id", "D1")
    answer(child, r"Room / location", "dental room, wall to flat 3")
    answer(child, r"Position of the probe in the room", "")
    answer(child, r"Room category \(App\. 14 Table 2\)", "7")
    answer(child, r"Kind of point" + default("wall"), "")
    answer(child, r"Heights above the floor, cm", "")
    answer(child, r"Anode current, mA", "4")
    answer(child, r"Anode voltage, kV", "100")
    answer(child, r"Design attenuation factor K .*App\. 14 p\.25", "0")
    child.expect(r"K is an attenuation factor > 0")
    answer(child, r"Design attenuation factor K", "12,5")
    answer(child, r"Source of K", "project 12-2007, sheet 4")
    answer(child, r"Switch the X-ray apparatus ON", "")
    for height in (80, 120):
        answer(child, f"Place the probe at {height} cm", "")
        child.expect(rf"D1 at {height} cm: mean ([0-9.]+) uGy/h")
        assert 30 < float(child.match.group(1)) < 50  # beam on, not 0 uGy/h
    child.expect(r"E measured = [0-9.]+ uSv/h, K = 12\.5 \(project 12-2007, sheet 4\), App\. 14 p\.25")
    answer(child, r"Add a measurement point\?", "n")
    answer(child, r"Finish the survey and evaluate it\?", "y")
    child.expect(r"Survey summary")
    child.expect(r"Survey SIM: (PASS|FAIL)")
    answer(child, r"Write the report now\?", "n")
    finish(child)
    assert child.exitstatus == 0
    shown = show_json(env, "SIM")
    assert shown["survey"]["options"] == {"formula3": "conservative"}
    assert shown["evaluation"]["formula3"] == "conservative"
    (point,) = shown["evaluation"]["points"]
    assert point["design_attenuation_factor"] == {"value": 12.5, "source": "project 12-2007, sheet 4"}
    assert point["limit_uSv_h"] == 0.3
    assert point["effective_uSv_h"] == pytest.approx(point["effective_measured_uSv_h"] / 12.5, rel=1e-12)


def test_survey_list_never_cuts_the_id_and_show_prints_tables(tmp_path: Path, env) -> None:
    long_id = "WE-2008-014-CITY-POLYCLINIC-7-ROOM-204-RADIOGRAPHY"
    subprocess.run(
        [RADSURVEY, "survey", "import", str(EXAMPLE), "--id", long_id], env=env, capture_output=True, check=True
    )
    narrow = {**env, "COLUMNS": "80"}
    child = pexpect.spawn(RADSURVEY, ["survey", "list"], env=narrow, encoding="utf-8", timeout=30, dimensions=(40, 80))
    finish(child)
    listed = child.before or ""
    assert re.search(rf"\b{re.escape(long_id)}\b", listed), listed

    child = spawn(["survey", "show", long_id], env)
    child.expect(r"Survey WE-2008-014-CITY-POLYCLINIC-7-ROOM-204-RADIOGRAPHY \(finished\)")
    child.expect(r"background, uGy/h: 0\.09, 0\.11, 0\.1")
    child.expect(r"Readings, uGy/h")
    child.expect(row("R1", "procedure room 204", "1", "workplace", "4", "100", "30", "20.1, 19.9, 20", "20"))
    child.expect(r"Evaluation")
    child.expect(row("A1", "(4)", "2.771", "2.5", "1.108", "FAIL"))
    child.expect(r"verdict: FAIL")
    finish(child)
    assert child.exitstatus == 0
    assert show_json(env, long_id)["evaluation"]["verdict"] == "fail"


def test_read_only_commands_do_not_create_the_journal(tmp_path: Path, env) -> None:
    journal = Path(env["RADSURVEY_SURVEY_JOURNAL"])
    child = spawn(["survey", "list"], env)
    child.expect(r"no surveys yet: .*surveys\.sqlite does not exist")
    finish(child)
    assert child.exitstatus == 0
    child = spawn(["survey", "show", "X"], env)
    child.expect(r"no survey journal here yet")
    finish(child)
    assert child.exitstatus == 2
    assert not journal.exists()


def test_start_without_a_terminal_and_without_a_plan_says_what_is_needed(env) -> None:
    # stdout is the terminal, stdin is not: nobody could answer the questions
    child = pexpect.spawn(
        "/bin/sh",
        ["-c", f"'{RADSURVEY}' survey start --id NOTTY < /dev/null"],
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect(r"survey start needs a plan or a terminal: give --plan FILE")
    finish(child)
    assert child.exitstatus == 2
    assert not Path(env["RADSURVEY_SURVEY_JOURNAL"]).exists()


def test_ctrl_c_works_when_the_test_run_ignores_sigint(env, plan) -> None:
    """As under nohup or `make test &`: SIGINT ignored in this process, restored in the child."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = spawn(["survey", "start", "--plan", str(plan), "--id", "NOHUP"], env)
    finally:
        signal.signal(signal.SIGINT, previous)
    child.expect(r"background: reading 1, uGy/h")
    child.sendintr()
    child.expect(r"Every reading so far is saved; continue with: radsurvey survey resume NOHUP")
    finish(child)
    assert child.exitstatus == 130


def test_sigint_ignored_without_the_restore_would_survive_exec(env) -> None:
    """Why the restore is needed: an ignored SIGINT is inherited across exec."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        plain = pexpect.spawn("/bin/sh", ["-c", "grep SigIgn /proc/self/status"], encoding="utf-8")
        restored = pexpect.spawn(
            "/bin/sh", ["-c", "grep SigIgn /proc/self/status"], encoding="utf-8", preexec_fn=default_sigint
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    finish(plain)
    finish(restored)
    sigint = 1 << (signal.SIGINT - 1)
    assert int((plain.before or "").split()[-1], 16) & sigint
    assert not int((restored.before or "").split()[-1], 16) & sigint


def test_evaluate_prints_tables_on_a_terminal_and_json_when_piped(env) -> None:
    child = spawn(["evaluate", str(EXAMPLE)], env)
    child.expect(r"Readings by height, uGy/h")
    child.expect(r"Survey verdict: (?:\x1b\[[0-9;]*m)*FAIL")
    finish(child)
    assert child.exitstatus == 0
    piped = subprocess.run([RADSURVEY, "evaluate", str(EXAMPLE)], env=env, capture_output=True, text=True, check=True)
    assert json.loads(piped.stdout)["schema"] == "radsurvey.evaluation/1"
