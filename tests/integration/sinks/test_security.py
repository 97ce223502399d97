"""An authenticated broker with an ACL; wrong credentials; secrets never in logs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from tests.servers import InfluxPeer, Mosquitto, PeerRequest

from .helpers import ROOT, MqttRecorder, config_dict, journal_reading_seqs

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


def run_daemon(
    tmp_path: Path,
    port: int,
    password: str,
    seconds: float,
    *,
    password_from: str = "file",
    influx_url: str = "http://127.0.0.1:9",
    token_from: str = "env",
) -> tuple[int, str, Path]:
    """``radsurvey --verbose run`` with the MQTT password and the InfluxDB token from a file or the environment."""
    data = config_dict(tmp_path, mqtt_port=port, influx_url=influx_url, mqtt={"username": "radsurvey"})
    env = dict(os.environ)
    for name in ("RADSURVEY_MQTT_PASSWORD", "RADSURVEY_INFLUXDB_TOKEN"):
        env.pop(name, None)
    if password_from == "file":
        pw_file = tmp_path / "mqtt-password"
        pw_file.write_text(password + "\n")
        pw_file.chmod(0o600)
        data["mqtt"]["password_file"] = str(pw_file)
    else:
        env["RADSURVEY_MQTT_PASSWORD"] = password
    if token_from == "file":
        token_file = tmp_path / "influx-token"
        token_file.write_text(TOKEN + "\n")
        token_file.chmod(0o600)
        data["influxdb"]["token_file"] = str(token_file)
    else:
        env["RADSURVEY_INFLUXDB_TOKEN"] = TOKEN
    cfg = tmp_path / "monitor.toml"
    cfg.write_text(tomli_w.dumps(data))
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
    assert log.count("mqtt connection failed; retrying") >= 2, "it keeps retrying"
    assert "mqtt connection lost" not in log  # it never had a connection to lose
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


def test_password_from_the_environment_and_token_from_a_file_are_used_and_never_logged(
    tmp_path: Path, secure_broker: Mosquitto, influx_peer: InfluxPeer
) -> None:
    import asyncio

    def answer(request: PeerRequest) -> tuple[int, str]:
        # The first write is refused with a message that repeats the request's
        # Authorization header, as a careless proxy might: it must not reach the log.
        if not influx_peer.requests:
            return 400, f"bad request from {request.headers.get('Authorization')}"
        return 204, ""

    influx_peer.answer = answer

    async def collect() -> tuple[int, str, list[str]]:
        async with MqttRecorder(secure_broker.port, f"{ROOT}/#", username="dashboard", password="view") as live:
            code, log, _ = await asyncio.to_thread(
                run_daemon,
                tmp_path,
                secure_broker.port,
                PASSWORD,
                3,
                password_from="env",
                influx_url=influx_peer.url,
                token_from="file",
            )
            await asyncio.sleep(0.3)
        return code, log, [m.topic for m in live.messages]

    code, log, topics = asyncio.run(collect())
    assert code == 0, log[-2000:]
    assert f"{ROOT}/meters/m1/reading" in topics, "the broker took the password from RADSURVEY_MQTT_PASSWORD"
    assert influx_peer.requests, "the daemon wrote to the InfluxDB peer"
    assert {r.headers.get("Authorization") for r in influx_peer.requests} == {f"Token {TOKEN}"}
    assert any(r.status == 204 for r in influx_peer.requests)
    assert "influxdb refused points" in log and "bad request from Token ***" in log
    assert PASSWORD not in log and TOKEN not in log


def test_the_read_only_dashboard_user_cannot_publish_to_the_daemon_topics(secure_broker: Mosquitto) -> None:
    import asyncio

    import aiomqtt

    forged = {
        f"{ROOT}/status": b"offline",
        f"{ROOT}/channels/ch1/alarm/ack": b'{"by": "dashboard"}',
        f"{ROOT}/channels/ch1/alarm": b'{"state": "normal"}',
        f"{ROOT}/meters/m1/reading": b'{"seq": 1, "value": 0.0}',
    }

    async def attempt() -> list[tuple[str, bytes]]:
        async with MqttRecorder(secure_broker.port, f"{ROOT}/#", username="radsurvey", password=PASSWORD) as owner:
            async with aiomqtt.Client(
                "127.0.0.1", secure_broker.port, username="dashboard", password="view", timeout=5
            ) as dashboard:
                for topic, payload in forged.items():
                    await dashboard.publish(topic, payload, qos=1, retain=topic.endswith("/status"))
            # The broker handles one client's publishes in order and the dashboard's
            # were acknowledged before this one is sent: once it is here, they would be too.
            async with aiomqtt.Client(
                "127.0.0.1", secure_broker.port, username="radsurvey", password=PASSWORD, timeout=5
            ) as daemon_account:
                await daemon_account.publish(f"{ROOT}/marker", b"end", qos=1)
            for _ in range(100):
                if owner.on("/marker"):
                    break
                await asyncio.sleep(0.05)
            assert owner.on("/marker"), "the daemon's own account can publish"
            return [(m.topic, m.payload) for m in owner.messages if m.topic != f"{ROOT}/marker"]

    arrived = asyncio.run(attempt())
    assert arrived == [], f"the dashboard account published {arrived}"
