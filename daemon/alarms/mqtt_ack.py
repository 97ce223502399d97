"""Acknowledge alarms over MQTT: ``{prefix}/{site}/channels/{channel}/alarm/ack``.

MQTT does not tell a subscriber who published a message, so a message is
trusted for what it proves itself:

* with ``keys_file`` set, only acknowledgements signed with the HMAC key of the
  person named in ``by`` are accepted, with a timestamp inside ``max_skew_s``
  and a nonce never seen before (signing.py has the format);
* without keys, the broker must be the one that authenticates: at start the
  listener probes whether an anonymous client can publish on the ack topic (it
  publishes a harmless probe with QoS 1 and watches whether its own
  subscription receives it). If it can, the listener does not start and says
  why in one line. Otherwise it accepts a JSON object naming who acknowledges
  (``{"by": "dr. Asel"}``, optionally ``"rule"`` and ``"comment"``), trusting
  the broker's accounts and ACL for who may publish there.

In both cases ``allowed_users``, if set, limits the names. Retained messages
are refused (an old retained ack would otherwise be replayed on every
reconnect). Everything refused is logged, never with a secret or a signature.

The service is off unless ``[alarms.mqtt_ack] enabled = true``. It has its own
connection (and client id) but takes what ``[alarms.mqtt_ack]`` does not set
from ``[mqtt]``: host, port, prefix, TLS, and the account with its password
unless the section names its own ``username``. The connection loop is explicit:
on any MQTT error it waits (doubling up to ``reconnect_max_s``) and reconnects.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.alarms import MqttAckConfig
from radsurvey.config.secrets import resolve_secret
from radsurvey.config.sinks import MqttConfig

from . import signing

if TYPE_CHECKING:
    from ..supervisor import Daemon
    from .records import Acknowledger

log = structlog.get_logger("radsurvey.alarms.mqtt")

_MAX_PAYLOAD = 4096
# Not a valid channel id (ids start with a letter or digit), so no channel's topic.
PROBE_CHANNEL = "_probe"
_PROBE_NOTE = "start-up probe (not an acknowledgement)"


class MqttAckService:
    """Subscribes to the ack topics and hands valid requests to the alarm service."""

    name = "alarms-mqtt-ack"

    def __init__(
        self,
        cfg: MqttAckConfig,
        *,
        site: str,
        alarms: Acknowledger,
        mqtt: MqttConfig | None = None,
        now: Callable[[], float] = time.time,
    ):
        """``mqtt``: the ``[mqtt]`` section, whose connection settings fill what ``cfg`` leaves unset."""
        self.cfg = cfg
        self.site = site
        self.now = now
        # Read once, at start: a missing or group-readable keys file is a config error.
        self.keys = signing.load_keys(cfg.keys_file) if cfg.keys_file is not None else None
        self.nonces = signing.NonceStore(cfg.nonce_file, cfg.max_skew_s)
        self.refused: str | None = None  # why the listener did not start (the probe), if it did not
        self._probe_token = ""
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
        if self.keys is not None:
            if self.nonces.path is None:
                self.nonces.path = Path(f"{daemon.journal.path}.ack-nonces")
            self.nonces.load(self.now())
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
                    early: list[Any] = []
                    if self.keys is None:
                        early = await self._probe(client)
                        if self.refused is not None:
                            log.error(self.refused, topic=self.topic, host=self.host, port=self.port)
                            return
                    log.info(
                        "listening for alarm acknowledgements",
                        topic=self.topic,
                        host=self.host,
                        port=self.port,
                        tls=tls_context is not None,
                        signed=self.keys is not None,
                    )
                    self.subscribed.set()
                    delay = 1.0
                    for message in early:
                        self.handle(str(message.topic), message.payload, retained=bool(message.retain))
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

    async def _probe(self, client: Any) -> list[Any]:
        """Can a client without an account publish on the ack topic? Sets :attr:`refused` if so.

        Publishes ``{"probe": token}`` with QoS 1 as an anonymous client and waits
        up to ``probe_timeout_s`` for our own subscription to receive it. Returns
        the other messages that arrived meanwhile (handled once the probe passed).
        """
        import aiomqtt

        self._probe_token = secrets.token_hex(8)
        topic = f"{self.root}/channels/{PROBE_CHANNEL}/alarm/ack"
        body = json.dumps({"probe": self._probe_token}).encode()

        async def publish_anonymously() -> str:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=f"radsurvey-ack-probe-{self._probe_token}",
                    tls_context=self._probe_tls(),
                    timeout=self.cfg.probe_timeout_s,
                ) as anonymous:
                    await anonymous.publish(topic, body, qos=1)
                return "published"
            except aiomqtt.MqttError as err:
                return f"refused ({err})"

        publisher = asyncio.create_task(publish_anonymously())
        early: list[Any] = []
        received = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.cfg.probe_timeout_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                nxt = asyncio.ensure_future(client.messages.__anext__())
                done, _ = await asyncio.wait({nxt, publisher}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    if publisher in done and publisher.result() != "published":
                        break  # the broker refused the anonymous client: nothing can arrive
                    if not done:
                        break
                    # published: wait for it (an ACL drops it silently) until the deadline
                    try:
                        message = await asyncio.wait_for(client.messages.__anext__(), deadline - loop.time())
                    except TimeoutError:
                        break
                else:
                    message = nxt.result()
                if self._is_probe(message.payload):
                    received = True
                    break
                early.append(message)
        finally:
            outcome = await publisher
        if received:
            self.refused = (
                "alarm acknowledgement over MQTT not started: an anonymous client can publish on "
                f"{self.topic} and no signing keys are configured (set [alarms.mqtt_ack] keys_file, "
                "or make the broker refuse anonymous clients / restrict the topic by ACL)"
            )
        else:
            log.info("anonymous clients cannot publish acknowledgements", topic=self.topic, probe=outcome)
        return early

    def _probe_tls(self) -> Any:
        """TLS for the probe: the broker's CA, but no client certificate (that would be an identity)."""
        if self.mqtt is None or not self.mqtt.tls:
            return None
        import ssl

        return ssl.create_default_context(cafile=str(self.mqtt.ca_file) if self.mqtt.ca_file else None)

    def _is_probe(self, payload: Any) -> bool:
        try:
            data = json.loads(bytes(payload).decode("utf-8"))
        except (TypeError, ValueError):
            return False
        return isinstance(data, dict) and data.get("probe") == self._probe_token and bool(self._probe_token)

    def handle(self, topic: str, payload: Any, *, retained: bool = False) -> tuple[bool, str]:
        """Validate one ack message and apply it; (accepted, reason). Never raises."""
        ok, message, channel = self._handle(topic, payload, retained)
        if message == _PROBE_NOTE:  # our own start-up probe, arriving late
            return ok, message
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
        if channel == PROBE_CHANNEL and isinstance(data.get("probe"), str):
            return False, _PROBE_NOTE, channel
        unknown = set(data) - {"by", "rule", "comment", *signing.SIGNED_KEYS}
        if unknown:
            return False, f"unknown key(s) {', '.join(sorted(unknown))}", channel
        by, rule, comment = data.get("by"), data.get("rule"), data.get("comment", "")
        if not isinstance(by, str) or not by.strip() or len(by) > 100:
            return False, "'by' must name who acknowledges (1-100 characters)", channel
        if rule is not None and not isinstance(rule, str):
            return False, "'rule' must be a string", channel
        if not isinstance(comment, str) or len(comment) > 1000:
            return False, "'comment' must be a string of at most 1000 characters", channel
        signed = any(k in data for k in signing.SIGNED_KEYS)
        if self.keys is not None:
            if not signed:
                return False, "unsigned: this listener accepts only signed acknowledgements", channel
            why = signing.verify(
                data, keys=self.keys, site=self.site, channel=channel, now=self.now(), nonces=self.nonces
            )
            if why is not None:
                return False, why, channel
        elif signed:
            return False, "signed, but no signing keys are configured ([alarms.mqtt_ack] keys_file)", channel
        by = by.strip()
        if self.cfg.allowed_users and by not in self.cfg.allowed_users:
            return False, f"{by!r} is not in alarms.mqtt_ack.allowed_users", channel
        ok, message = self.alarms.acknowledge(channel, rule, by, comment, source="mqtt")
        return ok, message, channel


async def publish_signed(
    cfg: Any, *, channel: str, by: str, rule: str | None, comment: str, secret: bytes, timeout_s: float = 10.0
) -> str:
    """Publish one signed acknowledgement with QoS 1 (``radsurvey alarms ack --mqtt``); returns the topic.

    ``cfg`` is the whole daemon config: the broker, prefix, TLS and account are
    those the listener uses. A broker error becomes a
    one-line RadsurveyError (never with a password).
    """
    import aiomqtt

    from radsurvey.protocols.errors import RadsurveyError

    from ..sinks.mqtt import describe_error, tls_context_for

    ack, mqtt = cfg.alarms.mqtt_ack, cfg.mqtt
    host = ack.host or (mqtt.host if mqtt else "127.0.0.1")
    port = ack.port or (mqtt.port if mqtt else 1883)
    root = f"{ack.prefix or (mqtt.prefix if mqtt else 'radsurvey')}/{cfg.site.id}"
    if ack.username or mqtt is None:
        username = ack.username
        password = resolve_secret(env=ack.password_env, file=ack.password_file, what="alarms.mqtt_ack password")
    else:
        username, password = mqtt.username, mqtt.password()
    body = signing.sign(
        secret, site=cfg.site.id, channel=channel, by=by, rule=rule, comment=comment, ts=int(time.time())
    )
    topic = f"{root}/channels/{channel}/alarm/ack"
    try:
        async with aiomqtt.Client(
            host,
            port,
            username=username,
            password=password.get_secret_value() if password else None,
            tls_context=tls_context_for(mqtt) if mqtt is not None else None,
            timeout=timeout_s,
        ) as client:
            await client.publish(topic, json.dumps(body).encode(), qos=1)
    except aiomqtt.MqttError as err:
        raise RadsurveyError(f"cannot publish to {host}:{port}: {describe_error(err)}") from None
    return topic
