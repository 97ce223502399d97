"""How the MQTT sink connects, as the broker sees it: TLS with client certificates, client id, keepalive."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import Mosquitto, Pki, make_pki

from .helpers import MqttRecorder, make_config, start_daemon, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "tls-broker", pki=pki)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tls_options(pki: Pki, ca: Path | None = None) -> dict[str, object]:
    return {
        "tls": True,
        "ca_file": str(ca or pki.ca),
        "cert_file": str(pki.client_cert),
        "key_file": str(pki.client_key),
    }


async def test_tls_with_a_ca_and_a_client_certificate_publishes(
    tmp_path: Path, tls_broker: Mosquitto, pki: Pki
) -> None:
    assert tls_broker.tls_port is not None
    cfg = make_config(tmp_path, mqtt_port=tls_broker.tls_port, mqtt=tls_options(pki))
    async with MqttRecorder(tls_broker.port, "radsurvey/#") as live:  # the plain listener, for the test only
        running = await start_daemon(cfg)
        await wait_for(lambda: len(live.on("/meters/m1/reading")) >= 5, 15, "readings over TLS")
        mqtt = running.sink("mqtt")
        errors = mqtt.errors
        await running.stop()
    assert errors == 0
    log = tls_broker.internal_log.read_text()
    assert re.search(rf"New connection from 127\.0\.0\.1:\d+ on port {tls_broker.tls_port}\.", log)
    assert "as radsurvey-lab (" in log


async def test_a_broker_certificate_from_another_ca_is_a_clear_error_and_retried(
    tmp_path: Path, tls_broker: Mosquitto, pki: Pki
) -> None:
    assert tls_broker.tls_port is not None
    cfg = make_config(tmp_path, mqtt_port=tls_broker.tls_port, mqtt=tls_options(pki, ca=pki.other_ca))
    running = await start_daemon(cfg)
    mqtt = running.sink("mqtt")
    await wait_for(lambda: mqtt.errors >= 2, 15, "two failed connection attempts")
    status = mqtt.status()
    readings = running.daemon.readings_seen
    await running.stop()
    assert status["connected"] is False and status["cursor_seq"] == 0
    assert status["last_error"].startswith(f"TLS: the broker's certificate is not trusted by ca_file {pki.other_ca} (")
    assert "certificate verify failed" in status["last_error"]
    assert readings >= 10, "acquisition went on"


async def test_client_id_and_keepalive_are_the_configured_ones(tmp_path: Path, mosquitto: Mosquitto) -> None:
    cfg = make_config(tmp_path, mqtt_port=mosquitto.port, mqtt={"client_id": "monitor-7", "keepalive_s": 17})
    running = await start_daemon(cfg)
    await wait_for(lambda: running.sink("mqtt").connected, 10, "the mqtt connection")
    await asyncio.sleep(0.2)
    await running.stop()
    log = mosquitto.internal_log.read_text()
    connects = re.findall(r"New client connected from \S+ as (\S+) \(p\d, c\d, k(\d+)", log)
    assert connects == [("monitor-7", "17")], log[-1000:]
