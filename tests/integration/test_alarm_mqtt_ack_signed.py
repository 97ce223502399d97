"""Signed acknowledgements and the anonymous-publisher probe, against real mosquitto brokers.

Issue 12 §4: an anonymous, unsigned acknowledgement on an anonymous broker
acknowledges nothing; a validly signed one does; a replayed one and a badly
signed one are refused (and logged without the secret).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from structlog.testing import capture_logs

from radsurvey.config.alarms import MqttAckConfig
from radsurvey.daemon.alarms import signing
from radsurvey.daemon.alarms.mqtt_ack import MqttAckService
from tests.alarm_support import T0, Clock, events, feed, make_config, running, until
from tests.integration.test_alarm_mqtt_ack import ACL, LATCHING, USERS, AckBesideAlarms, ack_config
from tests.servers import Mosquitto

pytestmark = pytest.mark.integration

SECRET = "correct horse battery staple 42"
TOPIC = "radsurvey/t/channels/desk/alarm/ack"


@pytest.fixture
def anonymous_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto-anon")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def keys_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "ack-keys"
    path.write_text(f"# who may acknowledge\ndr. Asel:{SECRET}\noperator:{'x' * 20}\n")
    path.chmod(mode)
    return path


async def publish_raw(port: int, body: bytes | dict, *, topic: str = TOPIC, **account: str) -> None:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiomqtt.Client("127.0.0.1", port, timeout=10, **account) as client:  # type: ignore[arg-type]
        await client.publish(topic, payload, qos=1)


def signed(by: str = "dr. Asel", secret: str = SECRET, **extra: object) -> dict:
    fields: dict = {"site": "t", "channel": "desk", "by": by, "ts": int(time.time()), **extra}
    site, channel = fields.pop("site"), fields.pop("channel")
    return signing.sign(secret.encode(), site=site, channel=channel, **fields)


async def test_without_keys_an_anonymous_broker_stops_the_listener_and_nothing_is_acknowledged(
    tmp_path: Path, anonymous_broker: Mosquitto
) -> None:
    cfg = make_config(tmp_path, LATCHING)
    clock = Clock(T0)
    ack_cfg = MqttAckConfig(enabled=True, accept_unsigned=True, port=anonymous_broker.port, reconnect_max_s=0.2)
    holder: list[MqttAckService] = []
    with capture_logs() as logs:
        async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            await until(lambda: bool(holder) and holder[0].refused is not None, 15)
            # The attacker of the issue: anonymous, unsigned, claiming to be the physicist.
            await publish_raw(anonymous_broker.port, {"by": "physicist"})
            await publish_raw(anonymous_broker.port, signed())
            await asyncio.sleep(1.0)  # time for them to arrive, if anything listened
            assert not holder[0].subscribed.is_set()
            assert holder[0].results == []
            assert service.current()[0]["state"] == "alarm"
            await daemon.journal.aflush()
    assert [e["event"] for e in events(cfg)] == ["transition"]
    refusal = [e for e in logs if e["log_level"] == "error" and "not started" in e["event"]]
    assert len(refusal) == 1 and "\n" not in refusal[0]["event"]
    assert "anyone could publish on radsurvey/t/channels/+/alarm/ack" in refusal[0]["event"]
    assert "keys_file" in refusal[0]["event"]


async def test_with_keys_only_a_valid_signature_acknowledges_once(
    tmp_path: Path, anonymous_broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("radsurvey.daemon.alarms.mqtt_ack.REJECTION_LOG_EVERY_S", 0.0)  # log every refusal here
    cfg = make_config(tmp_path, LATCHING)
    clock = Clock(T0)
    ack_cfg = MqttAckConfig(enabled=True, port=anonymous_broker.port, keys_file=keys_file(tmp_path))
    holder: list[MqttAckService] = []
    good = signed(comment="door closed")
    forged = signed(secret="a guessed secret, long enough")
    tampered = {**signed(), "comment": "changed after signing"}
    stale = signed(ts=int(time.time()) - 3600)
    with capture_logs() as logs:
        async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
            await until(lambda: bool(holder) and holder[0].subscribed.is_set(), 15)
            ack = holder[0]
            await publish_raw(anonymous_broker.port, {"by": "dr. Asel"})  # unsigned
            await publish_raw(anonymous_broker.port, forged)
            await publish_raw(anonymous_broker.port, tampered)
            await publish_raw(anonymous_broker.port, stale)
            await publish_raw(anonymous_broker.port, good, topic="radsurvey/t/channels/other/alarm/ack")
            await until(lambda: len(ack.results) >= 5)
            assert service.current()[0]["state"] == "alarm"
            await publish_raw(anonymous_broker.port, good)
            await until(lambda: len(ack.results) >= 6)
            assert service.current()[0]["state"] == "normal"
            await publish_raw(anonymous_broker.port, good)  # the same message again: a replay
            await until(lambda: len(ack.results) >= 7)
            await daemon.journal.aflush()
    reasons = [m for _, _, m in ack.results]
    assert [ok for _, ok, _ in ack.results] == [False] * 5 + [True, False]
    assert reasons[0].startswith("unsigned")
    assert reasons[1] == "bad signature for 'dr. Asel'"
    assert reasons[2] == "bad signature for 'dr. Asel'"
    assert reasons[3].startswith("stale")
    assert reasons[4] == "bad signature for 'dr. Asel'"  # signed for channel desk, sent to another
    assert reasons[6] == "replayed: this nonce was already used"
    acks = [e for e in events(cfg) if e["event"] == "ack"]
    assert [(e["acknowledged_by"], e["comment"]) for e in acks] == [("dr. Asel", "door closed")]
    # Refusals are logged, never with a secret or a signature.
    rejected = [e for e in logs if e["event"] == "alarm acknowledgement over MQTT rejected"]
    assert len(rejected) == 6
    for text in map(repr, logs):
        assert SECRET not in text and forged["sig"] not in text and good["sig"] not in text


async def ack_once(cfg, clock, ack_cfg, holder, message, *, port: int, alarm: bool):  # type: ignore[no-untyped-def]
    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, _):
        if alarm:
            feed(daemon, clock, T0, T0 + 20, 100.0)
            feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set(), 15)
        await publish_raw(port, message)
        await until(lambda: len(holder[0].results) >= 1)
        return holder[0].results[0]


async def test_a_restart_does_not_reopen_the_replay_window(tmp_path: Path, anonymous_broker: Mosquitto) -> None:
    cfg = make_config(tmp_path, LATCHING)
    clock = Clock(T0)
    ack_cfg = MqttAckConfig(enabled=True, port=anonymous_broker.port, keys_file=keys_file(tmp_path))
    good = signed()
    outcomes = []
    for attempt in range(2):
        holder: list[MqttAckService] = []
        outcomes.append(
            await ack_once(cfg, clock, ack_cfg, holder, good, port=anonymous_broker.port, alarm=attempt == 0)
        )
    assert [ok for _, ok, _ in outcomes] == [True, False]
    outcome = outcomes[1]
    assert outcome[2] == "replayed: this nonce was already used"
    assert (tmp_path / "j.sqlite.ack-nonces").read_text().split() == [str(good["ts"]), good["nonce"]]


async def test_a_broker_refusing_anonymous_clients_allows_unsigned_and_signed_acks_work_there_too(
    tmp_path: Path,
) -> None:
    server = Mosquitto(tmp_path / "mosquitto-acl", users=USERS, acl=ACL)
    server.start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("daemon-pw\n")
        secret.chmod(0o600)
        cfg = make_config(tmp_path, LATCHING)
        clock = Clock(T0)
        base = {"enabled": True, "port": server.port, "username": "radsurvey", "password_file": secret}
        with capture_logs() as logs:
            holder: list[MqttAckService] = []
            unsigned_cfg = MqttAckConfig(**base, accept_unsigned=True)
            async with running(cfg, clock, extra=[AckBesideAlarms(unsigned_cfg, holder)]) as (daemon, _):
                feed(daemon, clock, T0, T0 + 20, 100.0)
                await until(lambda: bool(holder) and holder[0].subscribed.is_set(), 15)
                assert holder[0].refused is None and holder[0].unsigned_ok
        assert any(e["event"] == "the broker refuses clients without an account" for e in logs)
        holder = []
        signed_cfg = MqttAckConfig(**base, keys_file=keys_file(tmp_path))
        async with running(cfg, clock, extra=[AckBesideAlarms(signed_cfg, holder)]) as (daemon, service):
            feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
            await until(lambda: bool(holder) and holder[0].subscribed.is_set(), 15)
            await publish_raw(server.port, signed(), username="operator", password=USERS["operator"])
            await until(lambda: service.current()[0]["state"] == "normal")
    finally:
        server.stop()


def test_a_keys_file_others_can_read_is_refused(tmp_path: Path) -> None:
    from radsurvey.protocols.errors import ConfigError

    with pytest.raises(ConfigError, match=r"readable by others \(mode 0644\); chmod 600"):
        signing.load_keys(keys_file(tmp_path, 0o644))


# Issue 21 §1: the ACL lets anonymous clients write one real channel's ack topic (before the user sections),
# not the probe's; no probe can prove such an ACL safe.
OPEN_DESK_ACL = "topic write radsurvey/t/channels/desk/alarm/ack\n\n" + ACL


@pytest.fixture
def open_desk_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto-open-desk", users=USERS, acl=OPEN_DESK_ACL, allow_anonymous=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def test_an_acl_opening_one_real_ack_topic_to_anonymous_clients_accepts_no_unsigned_ack(
    tmp_path: Path, open_desk_broker: Mosquitto
) -> None:
    port = open_desk_broker.port
    cfg = make_config(tmp_path, LATCHING)
    clock = Clock(T0)
    holder: list[MqttAckService] = []
    # accept_unsigned asked for, no keys: the broker lets anonymous clients in, so the listener does not start.
    with capture_logs() as logs:
        ack_cfg = ack_config(open_desk_broker, tmp_path, reconnect_max_s=0.2)  # accept_unsigned = true
        async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            await until(lambda: bool(holder) and holder[0].refused is not None, 15)
            await publish_raw(port, {"by": "Chief Physicist"})  # the attack of the issue, anonymous
            await publish_raw(port, {"by": "Chief Physicist"}, username="operator", password=USERS["operator"])
            await asyncio.sleep(1.0)
            assert holder[0].results == [] and service.current()[0]["state"] == "alarm"
    assert any("broker lets clients without an account connect" in e["event"] for e in logs)
    # With keys as well, it starts signed-only: the unsigned ack is refused, anonymous or from an account.
    holder = []
    ack_cfg = ack_config(open_desk_broker, tmp_path, keys_file=keys_file(tmp_path))
    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
        feed(daemon, clock, T0 + 20, T0 + 40, 100.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set(), 15)
        assert not holder[0].unsigned_ok
        await publish_raw(port, {"by": "Chief Physicist"})
        await publish_raw(port, {"by": "dr. Asel"}, username="operator", password=USERS["operator"])
        await until(lambda: len(holder[0].results) == 2)
        assert [ok for _, ok, _ in holder[0].results] == [False, False]
        assert all("only signed acknowledgements" in m for _, _, m in holder[0].results)
        assert service.current()[0]["state"] == "alarm"
        await publish_raw(port, signed(), username="operator", password=USERS["operator"])
        await until(lambda: service.current()[0]["acknowledged"] or service.current()[0]["state"] == "normal")
        await daemon.journal.aflush()
    assert [(e["event"], e["acknowledged_by"]) for e in events(cfg)][-1] == ("ack", "dr. Asel")


async def test_a_flood_of_rejected_acks_logs_one_warning_with_a_count(tmp_path: Path) -> None:
    from radsurvey.daemon.alarms.service import AlarmService

    alarms = AlarmService(make_config(tmp_path, LATCHING))
    ack = MqttAckService(MqttAckConfig(enabled=True, keys_file=keys_file(tmp_path)), site="t", alarms=alarms)
    with capture_logs() as logs:
        for _ in range(1000):
            ack.handle(TOPIC, b'{"by": "physicist"}')
    warnings = [e for e in logs if e["event"] == "alarm acknowledgement over MQTT rejected"]
    assert len(warnings) == 1 and warnings[0]["rejected_since_last_warning"] == 0
    assert len(ack.results) == 100 and not any(ok for _, ok, _ in ack.results)
