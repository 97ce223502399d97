"""The MQTT topic and payload contract of DESIGN.md §4.3 / docs/mqtt.md, against a real mosquitto."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.servers import Mosquitto

from .helpers import ROOT, SITE, MqttRecorder, make_config, start_daemon, wait_for

pytestmark = pytest.mark.integration

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def check_schema(payload: dict[str, Any], schema: dict[str, Any]) -> None:
    """Every key present with the type given (a tuple allows several), and no key the contract does not name."""
    assert set(payload) == set(schema), f"keys {sorted(payload)} != {sorted(schema)}"
    for key, kind in schema.items():
        assert isinstance(payload[key], kind), f"{key}: {payload[key]!r} is not {kind}"
        if key in ("ts", "last_seen") and isinstance(payload[key], str):
            assert ISO_Z.match(payload[key]), f"{key}: {payload[key]!r} is not UTC ISO-8601 with Z"


READING = {
    "seq": int,
    "ts": str,
    "meter": str,
    "value": float,
    "unit": str,
    "quantity": str,
    "status": list,
    "meter_value": (float, type(None)),
    "conversions": list,
}
SAMPLE = {
    "seq": int,
    "ts": str,
    "channel": str,
    "meter": str,
    "reading_seq": int,
    "room_category": int,
    "value_uGy_h": float,
    "mean_uGy_h": float,
    "window_n": int,
    "background_uGy_h": float,
    "net_uGy_h": float,
    "below_background": bool,
    "normalised_uGy_h": (float, type(None)),
    "effective_uSv_h": float,
    "limit_uSv_h": float,
    "ratio": float,
    "formula": str,
    "corrections": list,
}
STATE = {
    "seq": int,
    "ts": str,
    "meter": str,
    "state": str,
    "connected": bool,
    "model": (str, type(None)),
    "serial": (str, type(None)),
    "last_seen": (str, type(None)),
    "error": (str, type(None)),
}


async def run_briefly(tmp_path: Path, mosquitto: Mosquitto, seconds: float = 1.5, **kw: Any) -> MqttRecorder:
    cfg = make_config(tmp_path, mqtt_port=mosquitto.port, **kw)
    async with MqttRecorder(mosquitto.port) as live:
        running = await start_daemon(cfg)
        await asyncio.sleep(seconds)
        horizon = running.max_reading_seq()
        await wait_for(lambda: running.sink("mqtt").cursor >= horizon, 10, "mqtt to catch up")
        await running.stop()
        await asyncio.sleep(0.2)
    return live


async def retained(port: int, topic: str = "#", settle_s: float = 0.5) -> dict[str, aiomqtt.Message]:
    """What a new subscriber gets at once: the retained messages."""
    out: dict[str, aiomqtt.Message] = {}
    async with aiomqtt.Client("127.0.0.1", port, timeout=3) as client:
        await client.subscribe(topic, qos=2)
        try:
            async with asyncio.timeout(settle_s):
                async for m in client.messages:
                    if m.retain:
                        out[str(m.topic)] = m
        except TimeoutError:
            pass
    return out


async def test_readings_are_published_qos1_not_retained_with_the_reading_schema(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    live = await run_briefly(tmp_path, mosquitto)
    readings = live.on("/meters/m1/reading")
    assert len(readings) >= 10
    for m in readings:
        assert m.topic == f"{ROOT}/meters/m1/reading" and m.qos == 1 and not m.retain
        check_schema(m.json(), READING)
        assert m.json()["unit"] == "uGy/h" and m.json()["quantity"] == "air_kerma_rate"
    seqs = [m.json()["seq"] for m in readings]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert f"{ROOT}/meters/m1/reading" not in await retained(mosquitto.port)


async def test_samples_are_published_qos1_not_retained_with_the_sample_schema(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    live = await run_briefly(tmp_path, mosquitto)
    samples = live.on("/channels/ch1/sample")
    assert len(samples) >= 10
    readings = {m.json()["seq"] for m in live.on("/reading")}
    for m in samples:
        assert m.qos == 1 and not m.retain
        check_schema(m.json(), SAMPLE)
        assert m.json()["reading_seq"] in readings
        assert m.json()["limit_uSv_h"] > 0
    assert f"{ROOT}/channels/ch1/sample" not in await retained(mosquitto.port)


async def test_meter_state_is_retained_with_identity_and_last_seen(tmp_path: Path, mosquitto: Mosquitto) -> None:
    live = await run_briefly(tmp_path, mosquitto)
    states = [m.json() for m in live.on("/meters/m1/state")]
    assert [s["state"] for s in states][:2] == ["connecting", "connected"]
    for s in states:
        check_schema(s, STATE)
    connected = states[1]
    assert connected["connected"] is True and connected["error"] is None
    assert connected["serial"] == "SIM-0001" and connected["model"] == "radsurvey simulated meter"
    kept = await retained(mosquitto.port)
    assert kept[f"{ROOT}/meters/m1/state"].qos == 1


async def test_site_status_is_online_while_running_and_offline_after_a_clean_stop(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = make_config(tmp_path, mqtt_port=mosquitto.port)
    running = await start_daemon(cfg)
    await wait_for(lambda: running.sink("mqtt").connected, 10, "mqtt connection")
    await asyncio.sleep(0.3)
    assert (await retained(mosquitto.port, f"{ROOT}/status"))[f"{ROOT}/status"].payload == b"online"
    await running.stop()
    assert (await retained(mosquitto.port, f"{ROOT}/status"))[f"{ROOT}/status"].payload == b"offline"


async def test_sink_status_is_retained_json_with_backlog_lag_and_errors(tmp_path: Path, mosquitto: Mosquitto) -> None:
    await run_briefly(tmp_path, mosquitto, influx_url="http://127.0.0.1:9")  # a TSDB that is never there
    kept = await retained(mosquitto.port, f"{ROOT}/status/sinks")
    import json

    status = json.loads(kept[f"{ROOT}/status/sinks"].payload)  # type: ignore[arg-type]
    assert set(status["sinks"]) == {"mqtt", "influxdb"}
    for s in status["sinks"].values():
        assert {"backlog", "lag_s", "errors", "last_error", "cursor_seq", "committed_seq", "connected"} <= set(s)
    assert status["sinks"]["influxdb"]["errors"] >= 1 and status["sinks"]["influxdb"]["backlog"] > 0
    assert "cannot write to http://127.0.0.1:9" in status["sinks"]["influxdb"]["last_error"]
    assert status["sinks"]["influxdb"]["lag_s"] > 0
    assert status["journal"]["size_bytes"] > 0


async def test_home_assistant_discovery_is_retained_per_channel(tmp_path: Path, mosquitto: Mosquitto) -> None:
    import json

    await run_briefly(tmp_path, mosquitto, meters=2, mqtt={"homeassistant": True, "expire_after_s": 90})
    kept = await retained(mosquitto.port, "homeassistant/#")
    assert len(kept) == 2
    for ch in ("ch1", "ch2"):
        topic = f"homeassistant/sensor/radsurvey_{SITE}/{SITE}_{ch}/config"
        config = json.loads(kept[topic].payload)  # type: ignore[arg-type]
        assert config["state_topic"] == f"{ROOT}/channels/{ch}/sample"
        assert config["value_template"] == "{{ value_json.effective_uSv_h }}"
        assert config["unit_of_measurement"] == "µSv/h"
        assert config["state_class"] == "measurement"
        assert config["expire_after"] == 90
        assert config["availability_topic"] == f"{ROOT}/status"
        assert (config["payload_available"], config["payload_not_available"]) == ("online", "offline")
        assert "device_class" not in config
        assert config["unique_id"] and config["device"]["identifiers"] == [f"radsurvey-{SITE}"]


async def test_home_assistant_discovery_is_sent_again_when_home_assistant_comes_online(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = make_config(tmp_path, mqtt_port=mosquitto.port, mqtt={"homeassistant": True})
    running = await start_daemon(cfg)
    await wait_for(lambda: running.sink("mqtt").connected, 10, "mqtt connection")
    await asyncio.sleep(0.3)
    async with MqttRecorder(mosquitto.port, "homeassistant/sensor/#") as rec:
        await asyncio.sleep(0.3)
        before = len([m for m in rec.messages if not m.retain])
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as ha:
            await ha.publish("homeassistant/status", b"online", qos=1)
        await wait_for(lambda: len([m for m in rec.messages if not m.retain]) > before, 5, "discovery again")
    await running.stop()


async def test_alarm_and_survey_tables_are_routed_to_their_retained_topics() -> None:
    from radsurvey.config import parse_config
    from radsurvey.daemon.sinks.base import JournalRow
    from radsurvey.daemon.sinks.mqtt import MqttSink

    cfg = parse_config({"site": {"id": SITE}, "mqtt": {}}, environ={})
    sink = MqttSink(cfg, cfg.mqtt)  # type: ignore[arg-type]
    alarm = JournalRow(
        "alarm_events",
        7,
        {
            "seq": 7,
            "ts": "2026-01-01T00:00:00.000Z",
            "channel": "ch1",
            "state": "alarm",
            "level": "high",
            "value": 20.0,
            "since": "2026-01-01T00:00:00.000Z",
            "acknowledged": 0,
        },
    )
    topic, payload, qos, retain = sink.message_for(alarm)  # type: ignore[misc]
    assert (topic, qos, retain) == (f"{ROOT}/channels/ch1/alarm", 1, True)
    point = JournalRow(
        "survey_points",
        8,
        {"seq": 8, "ts": "2026-01-01T00:00:00.000Z", "survey": "s-1", "point": "p3", "detail": '{"E": 1.5}'},
    )
    topic, payload, qos, retain = sink.message_for(point)  # type: ignore[misc]
    assert (topic, retain) == (f"{ROOT}/surveys/s-1/points/p3", True)
    import json

    assert json.loads(payload)["detail"] == {"E": 1.5}
