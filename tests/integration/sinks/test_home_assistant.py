"""Home Assistant discovery as Home Assistant reads it, against a real mosquitto.

Home Assistant is not installed here (it needs its own Python and hundreds of
packages), so the keys it reads are pinned below from its source, by version:

* ``HA_SENSOR_KEYS_BEFORE_2025_10``: home-assistant/core, commit 00cb367f
  (homeassistant/components/mqtt/entity.py: ``init_entity_id_from_config``
  takes the entity id from ``object_id``), MQTT_ENTITY_COMMON_SCHEMA of the
  2024 mqtt/schemas.py (device, origin, enabled_by_default, entity_category,
  icon, json_attributes_topic/_template, object_id, unique_id), commit
  05efb6ea (mqtt/abbreviations.py, full key names) and the 2024 MQTT sensor
  platform (mqtt/sensor.py ``_PLATFORM_SCHEMA_BASE``: device_class,
  expire_after, force_update, last_reset_value_template, name, options,
  suggested_display_precision, state_class, unit_of_measurement, over
  MQTT_RO_SCHEMA's state_topic/value_template/qos/encoding). Its
  DISCOVERY_SCHEMA drops unknown keys (``extra=vol.REMOVE_EXTRA``), so a key
  one version does not know is ignored, not an error.
* ``HA_SENSOR_KEYS_2025_10``: home-assistant/core PR #151775 (in 2025.10)
  added ``default_entity_id`` (``<domain>.<object id>``) to the common entity
  schema and deprecated ``object_id``; Home Assistant's own warning
  (mqtt/entity.py, quoted in the issue threads of projects that publish
  discovery, e.g. getwud/wud#774, SmartEVSE-3.5#289) says to replace
  ``"object_id": "x"`` with ``"default_entity_id": "sensor.x"`` and that
  ``object_id`` stops working in 2026.4. The 2025.10 source itself was not in
  the reference store this was checked against; the key list follows that PR.
* ``HA_ATTRIBUTES_BLOCKED``: MQTT_ATTRIBUTES_BLOCKED of mqtt/entity.py (commit
  00cb367f): attribute keys Home Assistant drops from a JSON attributes payload.

Only key names are pinned (facts), no code of Home Assistant's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.config import parse_config
from radsurvey.daemon.sinks.mqtt import MqttSink
from radsurvey.daemon.sinks.payloads import HA_ATTRIBUTE_KEYS, ha_object_ids
from radsurvey.protocols.errors import ConfigError
from tests.servers import Mosquitto

from .helpers import ROOT, SITE, config_dict, start_daemon, wait_for

pytestmark = pytest.mark.integration

_AVAILABILITY = {"availability_topic", "payload_available", "payload_not_available", "availability_mode"}
_COMMON = {
    "device",
    "origin",
    "enabled_by_default",
    "entity_category",
    "icon",
    "json_attributes_topic",
    "json_attributes_template",
    "unique_id",
    "name",
}
_READ_ONLY = {"state_topic", "value_template", "qos", "encoding"}
_SENSOR = {
    "unit_of_measurement",
    "device_class",
    "state_class",
    "expire_after",
    "force_update",
    "last_reset_value_template",
    "suggested_display_precision",
    "options",
}
HA_SENSOR_KEYS_BEFORE_2025_10 = _AVAILABILITY | _COMMON | _READ_ONLY | _SENSOR | {"object_id"}
HA_SENSOR_KEYS_2025_10 = _AVAILABILITY | _COMMON | _READ_ONLY | _SENSOR | {"default_entity_id", "object_id"}
HA_DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "name", "sw_version", "hw_version"}
HA_ATTRIBUTES_BLOCKED = {
    "assumed_state",
    "available",
    "device_class",
    "device_info",
    "entity_category",
    "entity_picture",
    "entity_registry_enabled_default",
    "extra_state_attributes",
    "force_update",
    "icon",
    "name",
    "should_poll",
    "state",
    "supported_features",
    "unique_id",
    "unit_of_measurement",
}


def configs(sink: MqttSink) -> dict[str, dict[str, Any] | None]:
    return {topic: (json.loads(payload) if payload else None) for topic, payload in sink.discovery_messages()}


def sink_for(tmp_path: Path, data: dict[str, Any]) -> MqttSink:
    cfg = parse_config(data, environ={})
    assert cfg.mqtt is not None
    return MqttSink(cfg, cfg.mqtt)


def test_discovery_sends_only_keys_home_assistant_reads_and_the_entity_id_for_old_and_new_versions(
    tmp_path: Path,
) -> None:
    sink = sink_for(tmp_path, config_dict(tmp_path, mqtt_port=1883, mqtt={"homeassistant": True}))
    (config,) = [c for c in configs(sink).values() if c is not None]
    assert set(config) <= HA_SENSOR_KEYS_2025_10, set(config) - HA_SENSOR_KEYS_2025_10
    assert set(config) - {"default_entity_id"} <= HA_SENSOR_KEYS_BEFORE_2025_10
    assert set(config["device"]) <= HA_DEVICE_KEYS
    # 2025.10+: the entity id comes from default_entity_id, "<domain>.<object id>"
    assert config["default_entity_id"] == f"sensor.radsurvey_{SITE}_ch1_effective"
    # before 2025.10: from object_id, the same id without the domain
    assert config["object_id"] == config["default_entity_id"].removeprefix("sensor.")
    assert config["state_topic"] == config["json_attributes_topic"] == f"{ROOT}/channels/ch1/state"


def test_channels_differing_only_in_dash_underscore_or_dot_get_distinct_topics_ids_and_entity_ids(
    tmp_path: Path,
) -> None:
    data = config_dict(tmp_path, mqtt_port=1883, meters=4, mqtt={"homeassistant": True})
    for channel, name in zip(data["channels"], ("door-1", "door_1", "door.1", "Door-1"), strict=True):
        channel["id"] = name
    sink = sink_for(tmp_path, data)
    found = configs(sink)
    assert len(found) == 4 and all(c is not None for c in found.values())
    by_channel = {c["state_topic"].split("/")[-2]: c for c in found.values() if c is not None}
    assert set(by_channel) == {"door-1", "door_1", "door.1", "Door-1"}
    for key in ("unique_id", "default_entity_id", "object_id"):
        values = [c[key] for c in by_channel.values()]
        assert len(set(values)) == 4, f"{key} must differ: {values}"
    assert by_channel["door_1"]["default_entity_id"] == f"sensor.radsurvey_{SITE}_door_1_effective"
    # the ids are HA-legal: [a-z0-9_] after the domain
    for c in by_channel.values():
        assert set(c["default_entity_id"].removeprefix("sensor.")) <= set("abcdefghijklmnopqrstuvwxyz0123456789_")


def test_object_ids_of_non_colliding_channels_are_unchanged_from_earlier_releases() -> None:
    assert ha_object_ids("clinic-1", ["corridor-door", "desk.2"]) == {
        "corridor-door": "clinic_1_corridor_door",
        "desk.2": "clinic_1_desk_2",
    }
    ids = ha_object_ids("lab", ["door-1", "door_1"])
    assert ids["door_1"] == "lab_door_1" and ids["door-1"].startswith("lab_door_1_") and len(set(ids.values())) == 2
    # a function of each id alone: the same whichever order the channels come in
    assert ha_object_ids("lab", ["door_1", "door-1"]) == ids


async def test_door_1_and_door_underscore_1_appear_as_two_retained_sensors(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    from .test_mqtt_contract import retained

    data = config_dict(tmp_path, mqtt_port=mosquitto.port, meters=2, mqtt={"homeassistant": True})
    data["channels"][0]["id"], data["channels"][1]["id"] = "door-1", "door_1"
    running = await start_daemon(parse_config(data, environ={}))
    await wait_for(lambda: running.sink("mqtt").connected, 10, "mqtt connection")
    kept: dict[str, Any] = {}

    async def both_states() -> None:
        nonlocal kept
        kept = await retained(mosquitto.port, "#")

    for _ in range(20):
        await both_states()
        if f"{ROOT}/channels/door-1/state" in kept and f"{ROOT}/channels/door_1/state" in kept:
            break
    await running.stop()
    discovery = {t: json.loads(m.payload) for t, m in kept.items() if t.startswith("homeassistant/sensor/")}
    assert len(discovery) == 2
    assert len({c["unique_id"] for c in discovery.values()}) == 2
    for config in discovery.values():
        state = json.loads(kept[config["state_topic"]].payload)
        assert state["channel"] == config["state_topic"].split("/")[-2]


def test_no_discovery_for_a_channel_that_publishes_no_samples(tmp_path: Path) -> None:
    data = config_dict(tmp_path, mqtt_port=1883, meters=2, mqtt={"homeassistant": True})
    data["meters"][1]["enabled"] = False
    found = configs(sink_for(tmp_path, data))
    live = [c for c in found.values() if c is not None]
    assert [c["state_topic"] for c in live] == [f"{ROOT}/channels/ch1/state"]
    # the other channel's config topic gets an empty retained payload: Home Assistant removes such a sensor
    assert [t for t, c in found.items() if c is None] == [f"homeassistant/sensor/radsurvey_{SITE}/{SITE}_ch2/config"]
    data = config_dict(tmp_path, mqtt_port=1883, mqtt={"homeassistant": True, "publish_samples": False})
    assert all(c is None for c in configs(sink_for(tmp_path, data)).values())


def test_expire_after_shorter_than_three_poll_intervals_is_a_config_error(tmp_path: Path) -> None:
    data = config_dict(tmp_path, mqtt_port=1883, mqtt={"homeassistant": True, "expire_after_s": 60})
    data["meters"][0]["poll_interval_s"] = 30
    with pytest.raises(ConfigError) as err:
        parse_config(data, environ={})
    text = str(err.value)
    assert "mqtt.expire_after_s" in text and "'m1'" in text and "channels[ch1]" in text and "90" in text


def test_expire_after_defaults_to_120_s_or_three_poll_intervals(tmp_path: Path) -> None:
    data = config_dict(tmp_path, mqtt_port=1883, meters=2, mqtt={"homeassistant": True})
    data["meters"][1]["poll_interval_s"] = 300
    found = [c for c in configs(sink_for(tmp_path, data)).values() if c is not None]
    assert sorted(c["expire_after"] for c in found) == [120, 900]


def test_attributes_are_a_small_stable_set_that_home_assistant_keeps(tmp_path: Path) -> None:
    sink = sink_for(tmp_path, config_dict(tmp_path, mqtt_port=1883, mqtt={"homeassistant": True}))
    (config,) = [c for c in configs(sink).values() if c is not None]
    template = jinja2.Environment().from_string(config["json_attributes_template"])
    seen = []
    for seq, value in ((10, 0.5), (11, 0.7)):
        state = {
            "seq": seq,
            "ts": f"2026-12-01T00:00:{seq:02d}.000Z",
            "channel": "ch1",
            "meter": "m1",
            "room_category": 1,
            "effective_uSv_h": value,
            "limit_uSv_h": 6.0,
            "formula": "formula1",
            "value_uGy_h": value,
        }
        seen.append(json.loads(template.render(value_json=state)))
    assert seen[0] == seen[1], "attributes do not change from sample to sample"
    assert set(seen[0]) == set(HA_ATTRIBUTE_KEYS)
    assert not set(seen[0]) & (HA_ATTRIBUTES_BLOCKED | {"seq", "ts"})


@settings(max_examples=300, deadline=None)
@given(
    site=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True),
    channels=st.sets(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,6}", fullmatch=True), min_size=1, max_size=8),
)
def test_any_set_of_valid_channel_ids_gets_distinct_home_assistant_ids(site: str, channels: set[str]) -> None:
    ids = ha_object_ids(site, sorted(channels))
    assert set(ids) == channels
    lowered = [v.lower() for v in ids.values()]
    assert len(set(lowered)) == len(lowered), ids  # distinct even as entity ids (lower case)
    for value in ids.values():
        assert value and set(value) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
