"""Acknowledge alarms over MQTT: ``{prefix}/{site}/channels/{channel}/alarm/ack``.

Who may publish there is the broker's business: it authenticates every client
and its ACL grants write access to the ack topics to the accounts allowed to
acknowledge (docs/alarms.md has a mosquitto example). MQTT does not tell a
subscriber who published a message, so this service accepts a message only
when it is a JSON object naming who acknowledges (``{"by": "dr. Asel"}``,
optionally ``"rule"`` and ``"comment"``) and, if ``allowed_users`` is set, that
name is on the list. Retained messages are refused (an old retained ack would
otherwise be replayed on every reconnect). Everything refused is logged.

The service is off unless ``[alarms.mqtt_ack] enabled = true``; it logs in with
its own broker account. The connection loop is explicit: on any MQTT error it
waits (doubling up to ``reconnect_max_s``) and reconnects.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.alarms import MqttAckConfig
from radsurvey.config.secrets import resolve_secret

if TYPE_CHECKING:
    from ..supervisor import Daemon
    from .service import AlarmService

log = structlog.get_logger("radsurvey.alarms.mqtt")

_MAX_PAYLOAD = 4096


class MqttAckService:
    """Subscribes to the ack topics and hands valid requests to the alarm service."""

    name = "alarms-mqtt-ack"

    def __init__(self, cfg: MqttAckConfig, *, site: str, alarms: AlarmService):
        self.cfg = cfg
        self.alarms = alarms
        self.root = f"{cfg.prefix}/{site}"
        self.topic = f"{self.root}/channels/+/alarm/ack"
        self.subscribed = asyncio.Event()
        self.results: list[tuple[str, bool, str]] = []  # (channel, accepted, message), newest last

    async def run(self, daemon: Daemon) -> None:
        import aiomqtt

        password = resolve_secret(
            env=self.cfg.password_env, file=self.cfg.password_file, what="alarms.mqtt_ack password"
        )
        await self.alarms.ready.wait()
        delay = 1.0
        while True:
            try:
                async with aiomqtt.Client(
                    self.cfg.host,
                    self.cfg.port,
                    username=self.cfg.username,
                    password=password.get_secret_value() if password else None,
                    identifier=self.cfg.client_id or f"radsurvey-ack-{self.root.replace('/', '-')}",
                    timeout=10,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    log.info("listening for alarm acknowledgements", topic=self.topic, host=self.cfg.host)
                    self.subscribed.set()
                    delay = 1.0
                    async for message in client.messages:
                        self.handle(str(message.topic), message.payload, retained=bool(message.retain))
            except aiomqtt.MqttError as err:
                self.subscribed.clear()
                log.warning("alarm acknowledgement subscription lost; reconnecting", error=str(err), retry_in_s=delay)
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
