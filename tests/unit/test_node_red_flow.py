"""The Node-RED example flow: every topic it names is in the MQTT contract, and its functions work on contract payloads.

The contract is the topic table of docs/mqtt.md; the functions run in Node.js
(Debian's ``nodejs``) the way Node-RED runs a function node's body, on the
payloads docs/mqtt.md documents.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FLOW = REPO / "dashboards" / "node-red" / "radsurvey-flow.json"
MQTT_DOC = REPO / "docs" / "mqtt.md"
PREFIX = "radsurvey"  # the default [mqtt] prefix, which the flow uses


def nodes() -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = json.loads(FLOW.read_text(encoding="utf-8"))
    return loaded


def contract_topics() -> list[str]:
    """The topics of docs/mqtt.md's table, e.g. ``{root}/channels/{channel}/state``."""
    return re.findall(r"^\| `(\{root\}/[^`]+)` \|", MQTT_DOC.read_text(encoding="utf-8"), flags=re.M)


def in_contract(subscription: str) -> bool:
    """Whether a subscription with ``+`` wildcards names exactly one of the contract's topics."""
    levels = subscription.split("/")
    for topic in contract_topics():
        pattern = topic.replace("{root}", f"{PREFIX}/{{site}}").split("/")
        if len(pattern) == len(levels) and all(
            p == s or (p.startswith("{") and p.endswith("}")) for p, s in zip(pattern, levels, strict=True)
        ):
            return True
    return False


def test_the_contract_table_is_read() -> None:
    topics = contract_topics()
    assert "{root}/status" in topics and "{root}/channels/{channel}/sample" in topics


def test_every_topic_the_flow_names_is_in_the_mqtt_contract() -> None:
    subscriptions = [n["topic"] for n in nodes() if n["type"] in ("mqtt in", "mqtt out")]
    assert len(subscriptions) == 4
    assert [t for t in subscriptions if not in_contract(t)] == []
    assert not in_contract("radsurvey/+/channels/+/nonsense") and not in_contract("radsurvey/+/status/+")


def test_the_flow_is_wired_to_nodes_it_holds_and_subscribes_with_qos_1() -> None:
    by_id = {n["id"]: n for n in nodes()}
    (broker,) = [n for n in nodes() if n["type"] == "mqtt-broker"]
    for node in nodes():
        for output in node.get("wires", []):
            assert all(target in by_id for target in output), node["name"]
        if node["type"] == "mqtt in":
            assert node["broker"] == broker["id"] and node["qos"] == "1"
            assert node["datatype"] == ("utf8" if node["topic"].endswith("/status") else "json")


NODE = shutil.which("node") or shutil.which("nodejs")

RUNNER = """
const [code, messages] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const store = {};
const context = {get: (k) => store[k], set: (k, v) => { store[k] = v; }};
const statuses = [];
const node = {status: (s) => statuses.push(s), warn: () => {}, error: (e) => { throw new Error(e); }};
const body = new Function("msg", "node", "context", code);
const out = messages.map((m) => { const r = body(m, node, context); return r === null ? null : r.payload; });
process.stdout.write(JSON.stringify({out, statuses}));
"""


def run_function(name: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    (fn,) = [n for n in nodes() if n["type"] == "function" and n["name"] == name]
    assert NODE is not None
    done = subprocess.run(
        [NODE, "-e", RUNNER], input=json.dumps([fn["func"], messages]), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def documented(heading: str) -> dict[str, Any]:
    """The JSON example under a heading of docs/mqtt.md."""
    text = MQTT_DOC.read_text(encoding="utf-8")
    section = text[text.index(f"## `{heading}`") :]
    start = section.index("```json") + len("```json")
    example: dict[str, Any] = json.loads(section[start : section.index("```", start)])
    return example


needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (Debian package 'nodejs')")


@needs_node
def test_the_e_node_shows_e_and_dmd_e_of_the_state_topic() -> None:
    state = documented("{root}/channels/{channel}/sample")
    got = run_function("E and DMD_E", [{"topic": "radsurvey/clinic-1/channels/corridor-door/state", "payload": state}])
    e, limit = state["effective_uSv_h"], state["limit_uSv_h"]
    assert got["out"] == [f"clinic-1 corridor-door: E {e:g} µSv/h, DMD_E {limit:g} µSv/h"]
    assert got["statuses"][0]["fill"] == ("red" if state["ratio"] > 1 else "green")


@needs_node
def test_the_alarm_lamp_shows_the_channels_worst_state() -> None:
    alarm = documented("{root}/channels/{channel}/alarm")
    topic = "radsurvey/clinic-1/channels/corridor-door/alarm"
    got = run_function("alarm lamp", [{"topic": topic, "payload": alarm}])
    assert got["out"] == [f"clinic-1 corridor-door: {alarm['state']} {alarm['rule']}"]
    assert got["statuses"][0]["fill"] == {"alarm": "red", "warning": "yellow", "fault": "grey"}[alarm["state"]]


@needs_node
def test_samples_seen_again_are_dropped_by_seq_per_site() -> None:
    sample = documented("{root}/channels/{channel}/sample")
    a, b = "radsurvey/a/channels/x/sample", "radsurvey/b/channels/x/sample"
    messages = [
        {"topic": a, "payload": {**sample, "seq": 4}},
        {"topic": a, "payload": {**sample, "seq": 5}},
        {"topic": b, "payload": {**sample, "seq": 4}},
        {"topic": a, "payload": {**sample, "seq": 5}},
        {"topic": a, "payload": {**sample, "seq": 4}},
        {"topic": a, "payload": {**sample, "seq": 6}},
    ]
    got = run_function("drop duplicates (seq per site)", messages)
    e = sample["effective_uSv_h"]
    assert [None if o is None else (o["site"], o["effective_uSv_h"]) for o in got["out"]] == [
        ("a", e), ("a", e), ("b", e), None, None, ("a", e),
    ]  # fmt: skip


@needs_node
def test_a_sample_that_overtook_a_bridges_queue_does_not_hide_the_queue() -> None:
    # mosquitto sends a sample published while its bridge is reconnecting before the queue of the
    # outage (tests/integration/test_fleet_bridge.py); the queued samples have lower seqs and are new.
    sample = documented("{root}/channels/{channel}/sample")
    a = "radsurvey/a/channels/x/sample"
    seqs = [10, 11, 20, 12, 13, 20, 12, 21]
    got = run_function("drop duplicates (seq per site)", [{"topic": a, "payload": {**sample, "seq": q}} for q in seqs])
    assert [None if o is None else q for q, o in zip(seqs, got["out"], strict=True)] == [
        10, 11, 20, 12, 13, None, None, 21,
    ]  # fmt: skip


@needs_node
def test_the_duplicate_filter_remembers_the_newest_10000_seqs_of_a_site() -> None:
    sample = documented("{root}/channels/{channel}/sample")
    a = "radsurvey/a/channels/x/sample"
    seqs = [*range(1, 10_002), 2, 1]  # 1 has left the memory, 2 is the oldest still in it
    got = run_function("drop duplicates (seq per site)", [{"topic": a, "payload": {**sample, "seq": q}} for q in seqs])
    assert all(o is not None for o in got["out"][:10_001])
    assert [o is None for o in got["out"][10_001:]] == [True, False]


@needs_node
def test_the_status_node_shows_online_and_offline() -> None:
    got = run_function(
        "online / offline",
        [{"topic": "radsurvey/a/status", "payload": "online"}, {"topic": "radsurvey/a/status", "payload": "offline"}],
    )
    assert got["out"] == ["a: online", "a: offline"]
    assert [s["fill"] for s in got["statuses"]] == ["green", "red"]
