"""An authenticated broker with an ACL; wrong credentials; secrets never in logs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.servers import Mosquitto

from .helpers import ROOT, config_dict, journal_reading_seqs

pytestmark = pytest.mark.integration

PASSWORD = "s3cret-Pa55-do-not-log"
TOKEN = "tok-9f8e7d-never-in-logs"
ACL = """user radsurvey
topic readwrite radsurvey/#
topic readwrite homeassistant/#

user dashboard
topic read radsurvey/#
"""


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "secure", users={"radsurvey": PASSWORD, "dashboard": "view"}, acl=ACL)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def run_daemon(tmp_path: Path, port: int, password: str, seconds: float) -> tuple[int, str, Path]:
    data = config_dict(tmp_path, mqtt_port=port, influx_url="http://127.0.0.1:9", mqtt={"username": "radsurvey"})
    pw_file = tmp_path / "mqtt-password"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)
    data["mqtt"]["password_file"] = str(pw_file)
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(tomli_w.dumps(data))
    env = {**os.environ, "RADSURVEY_INFLUXDB_TOKEN": TOKEN}
    env.pop("RADSURVEY_MQTT_PASSWORD", None)
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "radsurvey"),
            "--verbose",
            "run",
            "--config",
            str(cfg),
            "--json",
            "--duration",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return proc.returncode, proc.stdout + proc.stderr, Path(data["journal"]["path"])


def test_wrong_password_is_a_clear_error_retried_without_crashing(tmp_path: Path, secure_broker: Mosquitto) -> None:
    code, log, journal = run_daemon(tmp_path, secure_broker.port, "wrong-" + PASSWORD, 4)
    assert code == 0, log[-2000:]
    assert "broker refused the credentials" in log
    assert log.count("mqtt connection lost; reconnecting") >= 2, "it keeps retrying"
    assert len(journal_reading_seqs(journal)) >= 40, "acquisition went on"
    assert PASSWORD not in log and TOKEN not in log


def test_right_password_publishes_and_a_read_only_dashboard_user_receives(
    tmp_path: Path, secure_broker: Mosquitto
) -> None:
    import asyncio

    import aiomqtt

    async def collect() -> list[str]:
        topics: list[str] = []
        async with aiomqtt.Client(
            "127.0.0.1", secure_broker.port, username="dashboard", password="view", timeout=5
        ) as c:
            await c.subscribe(f"{ROOT}/#", qos=1)
            loop = asyncio.get_running_loop()
            runner = loop.run_in_executor(None, run_daemon, tmp_path, secure_broker.port, PASSWORD, 3)
            try:
                async with asyncio.timeout(30):
                    async for m in c.messages:
                        topics.append(str(m.topic))
                        if runner.done():
                            break
            except TimeoutError:
                pass
            code, log, _ = await runner
        assert code == 0, log[-2000:]
        assert PASSWORD not in log and TOKEN not in log
        return topics

    topics = asyncio.run(collect())
    assert f"{ROOT}/meters/m1/reading" in topics and f"{ROOT}/status" in topics
