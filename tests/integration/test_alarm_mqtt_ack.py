"""Acknowledging alarms over MQTT against a real mosquitto with users and an ACL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from radsurvey.config.alarms import MqttAckConfig
from radsurvey.config.sinks import MqttConfig
from radsurvey.daemon.alarms.mqtt_ack import MqttAckService
from radsurvey.daemon.alarms.service import AlarmService
from tests.alarm_support import T0, Clock, events, feed, make_config, running, until
from tests.servers import Mosquitto, make_pki

pytestmark = pytest.mark.integration

ACL = """
user radsurvey
topic read radsurvey/t/channels/+/alarm/ack
topic readwrite radsurvey/t/#

user operator
topic write radsurvey/t/channels/+/alarm/ack

user viewer
topic read radsurvey/t/#
"""
USERS = {"radsurvey": "daemon-pw", "operator": "op-pw", "viewer": "view-pw"}
LATCHING = [{"kind": "instant", "level_uSv_h": 50, "latching": True, "warning_fraction": 0}]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto", users=USERS, acl=ACL)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ack_config(broker: Mosquitto, tmp_path: Path, **extra: object) -> MqttAckConfig:
    secret = tmp_path / "mqtt-password"
    secret.write_text("daemon-pw\n")
    secret.chmod(0o600)
    return MqttAckConfig(
        enabled=True,
        accept_unsigned=True,
        port=broker.port,
        username="radsurvey",
        password_file=secret,
        **extra,  # type: ignore[arg-type]
    )


async def publish(
    broker: Mosquitto, user: str, payload: object, *, channel: str = "desk", retain: bool = False
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    async with aiomqtt.Client("127.0.0.1", broker.port, username=user, password=USERS[user], timeout=10) as client:
        await client.publish(f"radsurvey/t/channels/{channel}/alarm/ack", body, qos=1, retain=retain)


class AckBesideAlarms:
    """Starts the MQTT ack service next to the alarm service that ``running`` creates."""

    name = "mqtt-ack"

    def __init__(self, cfg: MqttAckConfig, holder: list[MqttAckService], mqtt: MqttConfig | None = None):
        self.cfg = cfg
        self.holder = holder
        self.mqtt = mqtt

    async def run(self, daemon) -> None:  # type: ignore[no-untyped-def]
        alarms = next(s for s in daemon.services if isinstance(s, AlarmService))
        self.holder.append(MqttAckService(self.cfg, site="t", alarms=alarms, mqtt=self.mqtt))
        await self.holder[0].run(daemon)


async def in_alarm(tmp_path: Path, broker: Mosquitto, **ack: object):  # type: ignore[no-untyped-def]
    cfg = make_config(tmp_path, LATCHING)
    return cfg, Clock(T0), ack_config(broker, tmp_path, **ack)


async def test_an_authorised_user_acknowledges_a_latched_alarm(tmp_path: Path, broker: Mosquitto) -> None:
    cfg, clock, ack_cfg = await in_alarm(tmp_path, broker)
    holder: list[MqttAckService] = []

    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set())
        assert service.current()[0]["state"] == "alarm"
        await publish(broker, "operator", {"by": "dr. Asel", "comment": "patient left"})
        await until(lambda: service.current()[0]["state"] == "normal")
        await daemon.journal.aflush()
    ack = events(cfg)[-1]
    assert ack["event"] == "ack" and ack["acknowledged_by"] == "dr. Asel" and ack["comment"] == "patient left"


async def test_everything_not_allowed_is_rejected_and_the_alarm_stays(tmp_path: Path, broker: Mosquitto) -> None:
    cfg, clock, ack_cfg = await in_alarm(tmp_path, broker, allowed_users=["dr. Asel"])
    holder: list[MqttAckService] = []

    # A retained ack waiting on the broker would be replayed on every (re)subscription.
    await publish(broker, "operator", {"by": "dr. Asel"}, retain=True)
    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set())
        ack = holder[0]
        await until(lambda: len(ack.results) >= 1)
        # The broker's ACL drops a viewer's publication before it reaches us.
        await publish(broker, "viewer", {"by": "dr. Asel"})
        # Authenticated, but the payload is not acceptable:
        await publish(broker, "operator", b"not json")
        await publish(broker, "operator", {"comment": "who?"})
        await publish(broker, "operator", {"by": "intruder"})
        await publish(broker, "operator", {"by": "dr. Asel", "extra": 1})
        await publish(broker, "operator", {"by": "dr. Asel"}, channel="nope")
        await until(lambda: len(ack.results) >= 6)
        reasons = [m for _, ok, m in ack.results if not ok]
        assert len(reasons) == 6 and not any(ok for _, ok, _ in ack.results)
        assert "retained" in reasons[0]
        assert "not JSON" in reasons[1]
        assert "'by' must name" in reasons[2]
        assert "not in alarms.mqtt_ack.allowed_users" in reasons[3]
        assert "unknown key(s) extra" in reasons[4]
        assert "no alarm rules on channel 'nope'" in reasons[5]
        assert service.current()[0]["state"] == "alarm"
        await daemon.journal.aflush()
    assert [e["event"] for e in events(cfg)] == ["transition"]


async def test_anonymous_clients_cannot_even_connect(broker: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", broker.port, timeout=5):
            pass


async def test_the_listener_reconnects_after_the_broker_restarts(tmp_path: Path, broker: Mosquitto) -> None:
    cfg, clock, ack_cfg = await in_alarm(tmp_path, broker, reconnect_max_s=0.5)
    holder: list[MqttAckService] = []

    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set())
        broker.restart()
        await until(lambda: not holder[0].subscribed.is_set(), 10)
        await until(lambda: holder[0].subscribed.is_set(), 15)
        await publish(broker, "operator", {"by": "dr. Asel"})
        await until(lambda: service.current()[0]["state"] == "normal")


async def test_only_the_allowed_names_acknowledge(tmp_path: Path, broker: Mosquitto) -> None:
    cfg, clock, ack_cfg = await in_alarm(tmp_path, broker, allowed_users=["dr. Asel"])
    holder: list[MqttAckService] = []

    async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: bool(holder) and holder[0].subscribed.is_set())
        await publish(broker, "operator", {"by": "intruder"})
        await until(lambda: len(holder[0].results) == 1)
        assert service.current()[0]["state"] == "alarm"
        await publish(broker, "operator", {"by": "dr. Asel"})
        await until(lambda: len(holder[0].results) == 2)
        assert [ok for _, ok, _ in holder[0].results] == [False, True]
        assert service.current()[0]["acknowledged"]
        await daemon.journal.aflush()
    assert [(e["event"], e["acknowledged_by"]) for e in events(cfg)] == [("transition", None), ("ack", "dr. Asel")]


async def test_a_listener_the_broker_refuses_says_so_and_never_acknowledges(tmp_path: Path, broker: Mosquitto) -> None:
    from structlog.testing import capture_logs

    cfg, clock, ack_cfg = await in_alarm(tmp_path, broker, reconnect_max_s=0.2)
    (tmp_path / "mqtt-password").write_text("not-the-daemon-pw\n")
    holder: list[MqttAckService] = []

    with capture_logs() as logs:
        async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]) as (daemon, service):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            await until(lambda: sum("reconnecting" in e["event"] for e in logs) >= 2)
            assert not holder[0].subscribed.is_set()
            await publish(broker, "operator", {"by": "dr. Asel"})
            assert service.current()[0]["state"] == "alarm" and holder[0].results == []
    lost = [e for e in logs if "reconnecting" in e["event"]]
    assert "broker refused the credentials" in lost[0]["error"]
    assert not any("not-the-daemon-pw" in repr(e) for e in logs)


async def test_the_listener_uses_the_tls_and_account_of_the_mqtt_section(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    server = Mosquitto(tmp_path / "mosquitto-tls", users=USERS, acl=ACL, pki=pki)
    server.start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("daemon-pw\n")
        secret.chmod(0o600)
        mqtt = {"port": server.tls_port, "username": "radsurvey", "password_file": str(secret)}
        tls = {"tls": True, "ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
        cfg = make_config(tmp_path, LATCHING, mqtt={**mqtt, **tls}, mqtt_ack={"enabled": True, "accept_unsigned": True})
        # Only `enabled` and the unsigned policy under [alarms.mqtt_ack]: host, port, TLS and account are [mqtt]'s.
        assert cfg.alarms.mqtt_ack.username is None and cfg.mqtt is not None
        clock = Clock(T0)
        holder: list[MqttAckService] = []
        extra = [AckBesideAlarms(cfg.alarms.mqtt_ack, holder, mqtt=cfg.mqtt)]
        async with running(cfg, clock, extra=extra) as (daemon, service):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            await until(lambda: bool(holder) and holder[0].subscribed.is_set())
            assert (holder[0].port, holder[0].username) == (server.tls_port, "radsurvey")
            # An acknowledgement that comes before the alarm has nothing to acknowledge (it flaked 1 run in 13).
            await until(lambda: bool(service.current()) and service.current()[0]["state"] == "alarm")
            await publish(server, "operator", {"by": "dr. Asel"})  # an operator on the plain listener
            await until(lambda: service.current()[0]["acknowledged"])
    finally:
        server.stop()


async def test_the_anonymous_check_speaks_tls_1_3_to_a_broker_without_tls_1_2(tmp_path: Path) -> None:
    # The check asks in TLS 1.2 first (a refusal of a client without a certificate is then part of the
    # handshake); a listener with only TLS 1.3 is asked again in 1.3. This one needs an account, not a
    # certificate, so its refusal is a CONNACK: unsigned acknowledgements are safe and accepted.
    pki = make_pki(tmp_path / "pki")
    tls13_only = "tls_version tlsv1.3\nrequire_certificate false\n"  # appended: the TLS listener's options
    server = Mosquitto(tmp_path / "mosquitto-tls13", users=USERS, acl=ACL, pki=pki, extra_config=tls13_only)
    server.start()
    try:
        secret = tmp_path / "mqtt-password"
        secret.write_text("daemon-pw\n")
        secret.chmod(0o600)
        mqtt = {"port": server.tls_port, "username": "radsurvey", "password_file": str(secret), "tls": True}
        cfg = make_config(tmp_path, LATCHING, mqtt={**mqtt, "ca_file": str(pki.ca)},
                          mqtt_ack={"enabled": True, "accept_unsigned": True})  # fmt: skip
        clock = Clock(T0)
        holder: list[MqttAckService] = []
        async with running(cfg, clock, extra=[AckBesideAlarms(cfg.alarms.mqtt_ack, holder, mqtt=cfg.mqtt)]) as (
            daemon,
            service,
        ):
            feed(daemon, clock, T0, T0 + 20, 100.0)
            await until(lambda: bool(holder) and holder[0].subscribed.is_set())
            assert holder[0].unsigned_ok
            await until(lambda: bool(service.current()) and service.current()[0]["state"] == "alarm")
            await publish(server, "operator", {"by": "dr. Asel"})
            await until(lambda: service.current()[0]["acknowledged"])
    finally:
        server.stop()


async def test_without_tls_the_listener_cannot_reach_a_tls_broker(tmp_path: Path) -> None:
    server = Mosquitto(tmp_path / "mosquitto-tls", users=USERS, acl=ACL, pki=make_pki(tmp_path / "pki"))
    server.start()
    try:
        cfg, clock, _ = await in_alarm(tmp_path, server, reconnect_max_s=0.2)
        ack_cfg = ack_config(server, tmp_path, reconnect_max_s=0.2).model_copy(update={"port": server.tls_port})
        holder: list[MqttAckService] = []
        async with running(cfg, clock, extra=[AckBesideAlarms(ack_cfg, holder)]):
            await until(lambda: bool(holder))
            await asyncio.sleep(1.0)
            assert not holder[0].subscribed.is_set()
    finally:
        server.stop()
