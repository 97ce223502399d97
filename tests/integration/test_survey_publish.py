"""A survey followed live on a dashboard: each evaluated point reaches MQTT and InfluxDB while the survey runs.

``radsurvey survey start --config F`` runs the sinks of F on the survey journal;
points measured without network wait there and ``radsurvey survey publish``
delivers them later. Real mosquitto and VictoriaMetrics, the real terminal flow.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.integration.sinks.helpers import MqttRecorder, wait_for
from tests.servers import Mosquitto, VictoriaMetrics
from tests.survey_plans import PLAN as FULL_HEADER
from tests.survey_plans import with_background

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RADSURVEY = str(Path(sys.executable).parent / "radsurvey")
WORKED_EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"
SITE = "qc-laptop"

PLAN = with_background(FULL_HEADER, [0.09, 0.11, 0.10])


def publish_config(tmp_path: Path, *, mqtt_port: int | None = None, influx_url: str | None = None) -> Path:
    lines = [f'[site]\nid = "{SITE}"\n']
    if mqtt_port is not None:
        lines.append(
            f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nreconnect_initial_s = 0.2\nreconnect_max_s = 0.5\n'
            "connect_timeout_s = 2.0\n"
        )
    if influx_url is not None:
        lines.append(f'[influxdb]\nurl = "{influx_url}"\nflush_interval_s = 0.1\nretry_initial_s = 0.2\n')
    path = tmp_path / "publish.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def env_for(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "RADSURVEY_SURVEY_JOURNAL": str(tmp_path / "surveys.sqlite"),
        "RADSURVEY_PROFILE": str(tmp_path / "no-profile.toml"),
    }


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RADSURVEY, *args], capture_output=True, text=True, timeout=90, env=env_for(tmp_path), cwd=tmp_path
    )


def points_on(recorder: MqttRecorder, survey: str) -> dict[str, dict[str, object]]:
    prefix = f"radsurvey/{SITE}/surveys/{survey}/points/"
    return {m.topic.removeprefix(prefix): m.json() for m in recorder.messages if m.topic.startswith(prefix)}


async def test_each_point_reaches_mqtt_and_influxdb_while_the_survey_is_still_running(
    tmp_path: Path, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(PLAN, encoding="utf-8")
    cfg = publish_config(tmp_path, mqtt_port=mosquitto.port, influx_url=victoria.url)
    args = ["survey", "start", "--plan", str(plan), "--id", "LIVE", "--config", str(cfg), "--repeats", "3"]
    async with MqttRecorder(mosquitto.port, topic=f"radsurvey/{SITE}/#") as recorder:
        child = pexpect.spawn(RADSURVEY, args, env=env_for(tmp_path), encoding="utf-8", timeout=30)
        try:

            async def answer(prompt: str, text: str) -> None:
                await asyncio.to_thread(child.expect, prompt)
                child.sendline(text)

            await answer(r"Add the first measurement point\?", "y")
            await answer(r"Point id", "A1")
            await answer(r"Room / location", "doctor's office above")
            await answer(r"Position of the probe in the room", "")
            await answer(r"Room category \(App\. 14 Table 2\)", "2")
            await answer(r"Kind of point", "above")
            await answer(r"Heights above the floor, cm", "")
            await answer(r"Anode current, mA", "4")
            await answer(r"Anode voltage, kV", "100")
            await answer(r"Switch the X-ray apparatus ON", "")
            await answer(r"Place the probe at 80 cm", "")
            for value in ("40.1", "39.9", "40.0"):
                await answer(r"A1 80 cm: reading \d, uGy/h", value)
            # The survey now waits for the next point; the dashboard already has A1.
            await asyncio.to_thread(child.expect, r"Add a(nother)? measurement point\?")
            await wait_for(lambda: "A1" in points_on(recorder, "LIVE"), 10, "A1 on MQTT during the survey")
            assert child.isalive(), "the survey is still running"
            a1 = points_on(recorder, "LIVE")["A1"]
            assert a1["survey"] == "LIVE" and a1["verdict"] == "fail"
            assert a1["effective_uSv_h"] == pytest.approx(2.770833, rel=1e-6)
            retained = [m for m in recorder.messages if m.topic.endswith("/points/A1")]
            assert retained and all(m.qos >= 1 for m in retained)
            child.sendline("n")
            await answer(r"Finish the survey and evaluate it\?", "y")
            await answer(r"Write the report now\?", "n")
            await asyncio.to_thread(child.expect, pexpect.EOF)
        finally:
            if child.isalive():
                child.terminate(force=True)
        child.close()
        assert child.exitstatus == 0, child.before

    def influx_points() -> list[dict[str, object]]:
        return victoria.export('{__name__="survey_point_effective_uSv_h"}')

    await wait_for(lambda: bool(influx_points()), 10, "survey_point in VictoriaMetrics")
    (series,) = influx_points()
    tags = series["metric"]  # type: ignore[index]
    assert tags["survey"] == "LIVE" and tags["point"] == "A1" and tags["site"] == SITE  # type: ignore[index]
    assert series["values"] == [pytest.approx(2.770833, rel=1e-6)]  # type: ignore[index]


async def test_points_measured_offline_wait_in_the_journal_and_survey_publish_delivers_them(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto")  # its port is chosen, nothing listens yet
    cfg = str(publish_config(tmp_path, mqtt_port=broker.port))
    offline = await asyncio.to_thread(
        cli, tmp_path, "survey", "start", "--plan", str(WORKED_EXAMPLE), "--id", "OFF", "--yes",
        "--config", cfg, "--drain-timeout", "1",
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr
    assert "mqtt: 3 survey row(s) not delivered yet" in offline.stdout
    assert "Traceback" not in offline.stdout + offline.stderr

    broker.start()
    try:
        published = await asyncio.to_thread(cli, tmp_path, "survey", "publish", "--config", cfg, "--timeout", "20")
        assert published.returncode == 0, published.stderr
        assert "every evaluated survey point is delivered" in published.stdout
        async with MqttRecorder(broker.port, topic=f"radsurvey/{SITE}/surveys/#") as recorder:
            await wait_for(lambda: len(points_on(recorder, "OFF")) == 3, 10, "the three retained points")
            got = points_on(recorder, "OFF")
        assert {p: got[p]["verdict"] for p in got} == {"R1": "pass", "S1": "pass", "A1": "fail"}
        evaluated = await asyncio.to_thread(cli, tmp_path, "evaluate", str(WORKED_EXAMPLE), "--format", "json")
        expected = {p["id"]: p["effective_dose_rate_uSv_h"] for p in json.loads(evaluated.stdout)["points"]}
        assert {p: got[p]["effective_uSv_h"] for p in got} == expected, "the published numbers are evaluate's"

        again = await asyncio.to_thread(
            cli, tmp_path, "survey", "publish", "--config", cfg, "--json", "--timeout", "10"
        )
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["mqtt"]["backlog"] == 0
    finally:
        broker.stop()


def test_publish_without_a_sink_in_the_config_is_one_clear_error(tmp_path: Path) -> None:
    cfg = publish_config(tmp_path)
    out = cli(tmp_path, "survey", "publish", "--config", str(cfg))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"radsurvey: error: {cfg}: no enabled [mqtt] or [influxdb] section to publish the survey to"
    ]


def test_a_survey_with_an_unusable_config_is_refused_before_anything_is_asked_or_stored(tmp_path: Path) -> None:
    cfg = publish_config(tmp_path)
    out = cli(tmp_path, "survey", "start", "--plan", str(WORKED_EXAMPLE), "--yes", "--config", str(cfg))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"radsurvey: error: {cfg}: no enabled [mqtt] or [influxdb] section to publish the survey to"
    ]
    assert out.stdout == ""
    assert not (tmp_path / "surveys.sqlite").exists()


def test_a_publish_that_cannot_reach_the_broker_says_what_is_owed_and_fails(tmp_path: Path) -> None:
    imported = cli(tmp_path, "survey", "import", str(WORKED_EXAMPLE), "--id", "IMP")
    assert imported.returncode == 0, imported.stderr
    nobody = Mosquitto(tmp_path / "never-started")
    cfg = publish_config(tmp_path, mqtt_port=nobody.port)
    out = cli(tmp_path, "survey", "publish", "--config", str(cfg), "--timeout", "1")
    assert out.returncode == 1
    (line,) = out.stderr.strip().splitlines()
    assert line.startswith("radsurvey: error: mqtt: 3 survey row(s) not delivered yet")
