"""The MQTT topic and payload contract of docs/architecture.md#mqtt / docs/mqtt.md, against a real mosquitto."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.servers import Mosquitto

from .helpers import ROOT, SITE, MqttRecorder, config_dict, make_config, start_daemon, wait_for

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
CHANNEL_ALARM = {
    "seq": int,
    "ts": str,
    "channel": str,
    "state": str,
    "rule": (str, type(None)),
    "rules": list,
    "kind": (str, type(None)),
    "value": (float, type(None)),
    "level": (float, type(None)),
    "warning_level": (float, type(None)),
    "unit": (str, type(None)),
    "since": (str, type(None)),
    "acknowledged": bool,
    "latched": bool,
    "basis": (str, type(None)),
    "states": dict,
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
        assert config["state_topic"] == f"{ROOT}/channels/{ch}/state"
        assert config["default_entity_id"] == f"sensor.radsurvey_{SITE}_{ch}_effective"
        assert config["object_id"] == f"radsurvey_{SITE}_{ch}_effective"
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


_MINUTES = itertools.count()


def alarm_row(seq: int, rule: str, state: str, *, channel: str = "ch1", **extra: Any) -> dict[str, Any]:
    """An ``alarm_events`` row as the alarm service writes it (seq < 0: none, the journal adds it)."""
    ts = f"2026-01-01T00:{next(_MINUTES) % 60:02d}:00.000Z"
    row = {
        "ts": ts,
        "channel": channel,
        "rule": rule,
        "kind": "instant" if rule == "instant" else "twa",
        "event": "transition",
        "state": state,
        "previous": "normal",
        "value": 20.0,
        "level": 13.0,
        "warning_level": 6.5,
        "unit": "uSv/h",
        "since": ts,
        "acknowledged": 0,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "comment": "",
        "latched": int(state == "alarm" and rule == "instant"),
        **extra,
    }
    return row if seq < 0 else {"seq": seq, **row}


ALARM_RULES = [{"kind": "instant", "level_uSv_h": 1000, "latching": True}, {"kind": "twa"}]


def test_alarm_and_survey_tables_are_routed_to_their_retained_topics() -> None:
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal.feed import JournalRow
    from radsurvey.daemon.sinks.mqtt import MqttSink

    data = config_dict(Path("/nonexistent"), mqtt_port=1883)
    data["channels"][0]["alarms"] = ALARM_RULES
    cfg = parse_config(data, environ={})
    sink = MqttSink(cfg, cfg.mqtt)  # type: ignore[arg-type]
    (per_rule, channel) = sink.messages_for(JournalRow("alarm_events", 7, alarm_row(7, "instant", "alarm")))
    assert per_rule[0] == f"{ROOT}/channels/ch1/alarms/instant" and per_rule[2:] == (1, True)
    assert channel[0] == f"{ROOT}/channels/ch1/alarm" and channel[2:] == (1, True)
    point = JournalRow(
        "survey_points",
        8,
        {"seq": 8, "ts": "2026-01-01T00:00:00.000Z", "survey": "s-1", "point": "p3", "detail": '{"E": 1.5}'},
    )
    ((topic, payload, _qos, retain),) = sink.messages_for(point)
    assert (topic, retain) == (f"{ROOT}/surveys/s-1/points/p3", True)
    assert json.loads(payload)["detail"] == {"E": 1.5}


def alarm_config(tmp_path: Path, mosquitto: Mosquitto) -> Any:
    from radsurvey.config import parse_config

    data = config_dict(tmp_path, mqtt_port=mosquitto.port, enabled=False)
    data["channels"][0]["alarms"] = ALARM_RULES
    return parse_config(data, environ={})


async def append_and_deliver(running: Any, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        running.journal.append("alarm_events", row)
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("mqtt").cursor >= horizon, 10, "mqtt to publish the alarm events")


async def test_the_channel_alarm_topic_holds_the_worst_rule_not_the_latest_event(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    running = await start_daemon(alarm_config(tmp_path, mosquitto))
    await append_and_deliver(
        running,
        [
            alarm_row(-1, "instant", "alarm"),  # latched
            alarm_row(-1, "twa", "warning"),
            alarm_row(-1, "twa", "normal"),  # the latest event: must not hide the instant alarm
        ],
    )
    await running.stop()
    kept = await retained(mosquitto.port, f"{ROOT}/channels/ch1/#")
    channel = json.loads(kept[f"{ROOT}/channels/ch1/alarm"].payload)  # type: ignore[arg-type]
    check_schema(channel, CHANNEL_ALARM)
    assert (channel["state"], channel["rule"], channel["rules"]) == ("alarm", "instant", ["instant"])
    assert channel["states"] == {"instant": "alarm", "twa": "normal"}
    assert channel["latched"] is True and channel["acknowledged"] is False and channel["level"] == 13.0
    twa = json.loads(kept[f"{ROOT}/channels/ch1/alarms/twa"].payload)  # type: ignore[arg-type]
    instant = json.loads(kept[f"{ROOT}/channels/ch1/alarms/instant"].payload)  # type: ignore[arg-type]
    assert (twa["state"], instant["state"]) == ("normal", "alarm")
    assert "derived comparison" in twa["basis"] and channel["basis"] == instant["basis"]
    assert channel["seq"] == twa["seq"] > instant["seq"]


async def test_after_a_restart_the_channel_state_continues_from_the_journal(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = alarm_config(tmp_path, mosquitto)
    running = await start_daemon(cfg)
    await append_and_deliver(running, [alarm_row(-1, "instant", "alarm")])
    await running.stop()
    # A new run: the sink starts after its cursor, and only sees the twa event.
    running = await start_daemon(cfg)
    await append_and_deliver(running, [alarm_row(-1, "twa", "normal")])
    await running.stop()
    kept = await retained(mosquitto.port, f"{ROOT}/channels/ch1/alarm")
    channel = json.loads(kept[f"{ROOT}/channels/ch1/alarm"].payload)  # type: ignore[arg-type]
    assert (channel["state"], channel["rule"]) == ("alarm", "instant")
    assert channel["states"] == {"instant": "alarm", "twa": "normal"}


async def test_the_channel_clears_when_its_last_rule_clears(tmp_path: Path, mosquitto: Mosquitto) -> None:
    running = await start_daemon(alarm_config(tmp_path, mosquitto))
    await append_and_deliver(
        running,
        [
            alarm_row(-1, "instant", "alarm"),
            alarm_row(-1, "twa", "warning"),
            alarm_row(-1, "instant", "normal", event="ack", acknowledged=1, acknowledged_by="dr. Asel"),
        ],
    )
    kept = await retained(mosquitto.port, f"{ROOT}/channels/ch1/alarm")
    channel = json.loads(kept[f"{ROOT}/channels/ch1/alarm"].payload)  # type: ignore[arg-type]
    assert (channel["state"], channel["rule"], channel["rules"]) == ("warning", "twa", ["twa"])
    await append_and_deliver(running, [alarm_row(-1, "twa", "normal")])
    await running.stop()
    kept = await retained(mosquitto.port, f"{ROOT}/channels/ch1/alarm")
    channel = json.loads(kept[f"{ROOT}/channels/ch1/alarm"].payload)  # type: ignore[arg-type]
    check_schema(channel, CHANNEL_ALARM)
    assert (channel["state"], channel["rule"], channel["rules"], channel["value"]) == ("normal", None, [], None)
