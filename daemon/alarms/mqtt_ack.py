"""Acknowledge alarms over MQTT: ``{prefix}/{site}/channels/{channel}/alarm/ack``.

Who may publish there is the broker's business: it authenticates every client
and its ACL grants write access to the ack topics to the accounts allowed to
acknowledge (docs/alarms.md has a mosquitto example). MQTT does not tell a
subscriber who published a message, so this service accepts a message only
when it is a JSON object naming who acknowledges (``{"by": "dr. Asel"}``,
optionally ``"rule"`` and ``"comment"``) and, if ``allowed_users`` is set, that
name is on the list. Retained messages are refused (an old retained ack would
otherwise be replayed on every reconnect). Everything refused is logged.

The service is off unless ``[alarms.mqtt_ack] enabled = true``. It has its own
connection (and client id) but takes what ``[alarms.mqtt_ack]`` does not set
from ``[mqtt]``: host, port, prefix, TLS, and the account with its password
unless the section names its own ``username``. The connection loop is explicit:
on any MQTT error it waits (doubling up to ``reconnect_max_s``) and reconnects.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.alarms import MqttAckConfig
from radsurvey.config.secrets import resolve_secret
from radsurvey.config.sinks import MqttConfig

if TYPE_CHECKING:
    from ..supervisor import Daemon
    from .records import Acknowledger

log = structlog.get_logger("radsurvey.alarms.mqtt")

_MAX_PAYLOAD = 4096


class MqttAckService:
    """Subscribes to the ack topics and hands valid requests to the alarm service."""

    name = "alarms-mqtt-ack"

    def __init__(self, cfg: MqttAckConfig, *, site: str, alarms: Acknowledger, mqtt: MqttConfig | None = None):
        """``mqtt``: the ``[mqtt]`` section, whose connection settings fill what ``cfg`` leaves unset."""
        self.cfg = cfg
        self.mqtt = mqtt
        self.alarms = alarms
        self.host = cfg.host or (mqtt.host if mqtt else "127.0.0.1")
        self.port = cfg.port or (mqtt.port if mqtt else 1883)
        self.root = f"{cfg.prefix or (mqtt.prefix if mqtt else 'radsurvey')}/{site}"
        self.topic = f"{self.root}/channels/+/alarm/ack"
        if cfg.username or mqtt is None:
            self.username = cfg.username
            # resolved once, at start: a missing file is a config error
            self._password = resolve_secret(
                env=cfg.password_env, file=cfg.password_file, what="alarms.mqtt_ack password"
            )
        else:
            self.username = mqtt.username
            self._password = mqtt.password()
        self.subscribed = asyncio.Event()
        self.results: list[tuple[str, bool, str]] = []  # (channel, accepted, message), newest last

    async def run(self, daemon: Daemon) -> None:
        import aiomqtt

        from ..sinks.mqtt import describe_error, tls_context_for

        tls_context = tls_context_for(self.mqtt) if self.mqtt is not None else None
        await self.alarms.ready.wait()
        delay = 1.0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self._password.get_secret_value() if self._password else None,
                    identifier=self.cfg.client_id or f"radsurvey-ack-{self.root.replace('/', '-')}",
                    tls_context=tls_context,
                    timeout=10,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    log.info(
                        "listening for alarm acknowledgements",
                        topic=self.topic,
                        host=self.host,
                        port=self.port,
                        tls=tls_context is not None,
                    )
                    self.subscribed.set()
                    delay = 1.0
                    async for message in client.messages:
                        self.handle(str(message.topic), message.payload, retained=bool(message.retain))
            except aiomqtt.MqttError as err:
                self.subscribed.clear()
                log.warning(
                    "alarm acknowledgement subscription lost; reconnecting",
                    host=self.host,
                    port=self.port,
                    error=describe_error(err),
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.cfg.reconnect_max_s)

    def handle(self, topic: str, payload: Any, *, retained: bool = False) -> tuple[bool, str]:
        """Validate one ack message and apply it; (accepted, reason). Never raises."""
        ok, message, channel = self._handle(topic, payload, retained)
        self.results.append((channel, ok, message))
        del self.results[:-100]
        if not ok:
            log.warning("alarm acknowledgement over MQTT rejected", topic=topic, reason=message)
        return ok, message

    def _handle(self, topic: str, payload: Any, retained: bool) -> tuple[bool, str, str]:
        parts = topic.split("/")
        prefix = self.root.split("/")
        if (
            parts[: len(prefix)] != prefix
            or parts[len(prefix) :][0:1] != ["channels"]
            or parts[-2:] != ["alarm", "ack"]
            or len(parts) != len(prefix) + 4
        ):
            return False, "not an acknowledgement topic", ""
        channel = parts[len(prefix) + 1]
        if retained:
            return False, "retained acknowledgements are refused (publish without retain)", channel
        if not isinstance(payload, bytes | bytearray) or len(payload) > _MAX_PAYLOAD:
            return False, f"payload must be a JSON object of at most {_MAX_PAYLOAD} bytes", channel
        try:
            data = json.loads(bytes(payload).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return False, "payload is not JSON", channel
        if not isinstance(data, dict):
            return False, "payload must be a JSON object", channel
        unknown = set(data) - {"by", "rule", "comment"}
        if unknown:
            return False, f"unknown key(s) {', '.join(sorted(unknown))}", channel
        by, rule, comment = data.get("by"), data.get("rule"), data.get("comment", "")
        if not isinstance(by, str) or not by.strip() or len(by) > 100:
            return False, "'by' must name who acknowledges (1-100 characters)", channel
        if rule is not None and not isinstance(rule, str):
            return False, "'rule' must be a string", channel
        if not isinstance(comment, str) or len(comment) > 1000:
            return False, "'comment' must be a string of at most 1000 characters", channel
        by = by.strip()
        if self.cfg.allowed_users and by not in self.cfg.allowed_users:
            return False, f"{by!r} is not in alarms.mqtt_ack.allowed_users", channel
        ok, message = self.alarms.acknowledge(channel, rule, by, comment, source="mqtt")
        return ok, message, channel
