"""Acknowledge alarms over MQTT: ``{prefix}/{site}/channels/{channel}/alarm/ack``.

MQTT does not tell a subscriber who published a message, so a message is
trusted for what it proves itself:

* with ``keys_file`` set, only acknowledgements signed with the HMAC key of the
  person named in ``by`` are accepted, with a timestamp inside ``max_skew_s``
  and a nonce never seen before (signing.py has the format);
* unsigned acknowledgements (a JSON object naming who acknowledges,
  ``{"by": "dr. Asel"}``, optionally ``"rule"`` and ``"comment"``, trusting the
  broker's accounts and ACL for who may publish there) only with
  ``accept_unsigned = true``, and only while the broker refuses a client
  without an account at connect: checked at every (re)connection. A probe
  publication cannot prove an ACL safe (an ACL may open one real channel's ack
  topic to everyone and not the probe's), so no probe decides it. Without
  keys and with a broker that lets anonymous clients in, the listener does
  not start and says why in one line; with keys it starts, signed only.

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
from radsurvey.protocols.backoff import Backoff

from ..mqtt_session import describe_error, reconnect_loop, tls_context_for
from . import signing

if TYPE_CHECKING:
    from ..supervisor import Daemon
    from .records import Acknowledger

log = structlog.get_logger("radsurvey.alarms.mqtt")

_MAX_PAYLOAD = 4096
REJECTION_LOG_EVERY_S = 10.0  # a flood of bogus acknowledgements logs one warning per this, with a count
# CONNACK return codes that refuse the client itself (MQTT 3.1.1: bad user name or password, not authorised).
_REFUSED_CODES = frozenset({4, 5})


def connect_packet(client_id: str, keepalive_s: int = 10) -> bytes:
    """An MQTT 3.1.1 CONNECT without user name, password or will (clean session)."""
    ident = client_id.encode()
    body = b"\x00\x04MQTT\x04\x02" + keepalive_s.to_bytes(2, "big") + len(ident).to_bytes(2, "big") + ident
    return b"\x10" + bytes([len(body)]) + body  # short client ids: one length byte (< 128)


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
        self.refused: str | None = None  # why the listener did not start (anonymous clients get in), if it did not
        # Unsigned acknowledgements are accepted now: accept_unsigned, and the broker refused an anonymous client
        # at our latest connection. Reset on every reconnection until checked again.
        self.unsigned_ok = False
        self._warned_at = -float("inf")  # monotonic time of the latest rejection warning
        self._unlogged = 0  # rejections since then, not logged one by one
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
        if self.keys is not None:
            if self.nonces.path is None:
                self.nonces.path = Path(f"{daemon.journal.path}.ack-nonces")
            self.nonces.load(self.now())
        await self.alarms.ready.wait()

        def failed(err: BaseException, delay: float) -> None:
            self.subscribed.clear()
            log.warning(
                "alarm acknowledgement subscription lost; reconnecting",
                host=self.host,
                port=self.port,
                error=describe_error(err),
                retry_in_s=delay,
            )

        await reconnect_loop(self._session, Backoff(1.0, self.cfg.reconnect_max_s), failed)

    async def _session(self, backoff: Backoff) -> bool:
        """One connection: subscribe and handle acknowledgements until it fails; True: refused to start."""
        import aiomqtt

        tls_context = tls_context_for(self.mqtt) if self.mqtt is not None else None
        async with aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self._password.get_secret_value() if self._password else None,
            identifier=self.cfg.client_id or f"radsurvey-ack-{self.root.replace('/', '-')}",
            tls_context=tls_context,
            timeout=10,
        ) as client:
            self.unsigned_ok = False
            if self.cfg.accept_unsigned:
                anonymous_in = await self._anonymous_clients_get_in()
                if anonymous_in and self.keys is None:
                    self.refused = (
                        "alarm acknowledgement over MQTT not started: the broker lets clients without an "
                        f"account connect, so anyone could publish on {self.topic}; accept_unsigned needs "
                        "a broker that refuses them (allow_anonymous false), or set [alarms.mqtt_ack] "
                        "keys_file for signed acknowledgements"
                    )
                    log.error(self.refused, topic=self.topic, host=self.host, port=self.port)
                    return True
                if anonymous_in:
                    log.warning(
                        "unsigned alarm acknowledgements refused: the broker lets clients without an account "
                        "connect; only signed ones are accepted",
                        topic=self.topic,
                    )
                self.unsigned_ok = not anonymous_in
            await client.subscribe(self.topic, qos=1)
            log.info(
                "listening for alarm acknowledgements",
                topic=self.topic,
                host=self.host,
                port=self.port,
                tls=tls_context is not None,
                signed=self.keys is not None,
                unsigned=self.unsigned_ok,
            )
            self.subscribed.set()
            backoff.reset()
            async for message in client.messages:
                self.handle(str(message.topic), message.payload, retained=bool(message.retain))
        return False

    async def _anonymous_clients_get_in(self) -> bool:
        """Does the broker let a client without an account (and without a client certificate) connect?

        Sends one MQTT 3.1.1 CONNECT without user name or password (with TLS:
        our CA, no client certificate) and reads the broker's answer. True when
        the CONNACK accepts it; False when the broker refuses it (CONNACK 4 or 5,
        or a TLS listener that ends the handshake of a client without a
        certificate). Anything else (broker down, timeout) raises MqttError: we
        cannot tell, and the connection loop tries again.
        """
        import ssl

        import aiomqtt

        answer = None
        for tls in self._probe_tls():
            try:
                answer = await self._probe_connect(tls)
                break
            except ssl.SSLError as err:
                told = str(err).upper()
                if "CERTIFICATE_REQUIRED" in told or "HANDSHAKE_FAILURE" in told:
                    log.info("the broker refuses clients without a certificate", topic=self.topic)
                    return False
                if "VERSION" in told or "UNSUPPORTED_PROTOCOL" in told:
                    continue  # a broker without TLS 1.2: ask again in TLS 1.3
                raise aiomqtt.MqttError(f"cannot check whether the broker admits anonymous clients: {err}") from None
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as err:
                raise aiomqtt.MqttError(
                    f"cannot check whether the broker admits anonymous clients: {err or type(err).__name__}"
                ) from None
        if answer is None:
            raise aiomqtt.MqttError(
                "cannot check whether the broker admits anonymous clients: no TLS version in common"
            )
        if answer[0] != 0x20 or answer[1] != 0x02:
            raise aiomqtt.MqttError("cannot check whether the broker admits anonymous clients: not a CONNACK")
        code = answer[3]
        if code == 0:
            return True
        if code in _REFUSED_CODES:
            log.info("the broker refuses clients without an account", topic=self.topic, connack=code)
            return False
        raise aiomqtt.MqttError(f"cannot check whether the broker admits anonymous clients: CONNACK {code}")

    async def _probe_connect(self, tls: Any) -> bytes:
        """One CONNECT without an account (over ``tls`` if not None); the first 4 bytes of the answer."""
        writer = None
        try:
            async with asyncio.timeout(self.cfg.probe_timeout_s):
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, ssl=tls, server_hostname=self.host if tls is not None else None
                )
                writer.write(connect_packet(f"radsurvey-ack-check-{secrets.token_hex(4)}"))
                await writer.drain()
                return await reader.readexactly(4)
        finally:
            if writer is not None:
                writer.close()

    def _probe_tls(self) -> list[Any]:
        """TLS for the probe, in the order to try: the broker's CA, but no client certificate (an identity).

        TLS 1.2 first: there a listener that requires a client certificate ends
        the handshake itself, before the probe writes anything. In TLS 1.3 the
        client's handshake completes first and the broker's refusal comes as an
        alert after it, which the kernel discards when the broker's reset
        (our unread CONNECT) overtakes it; under load that happened on most
        attempts. TLS 1.3 is used only with a broker that has no TLS 1.2.
        """
        if self.mqtt is None or not self.mqtt.tls:
            return [None]
        import ssl

        cafile = str(self.mqtt.ca_file) if self.mqtt.ca_file else None
        tls12 = ssl.create_default_context(cafile=cafile)
        tls12.maximum_version = ssl.TLSVersion.TLSv1_2
        return [tls12, ssl.create_default_context(cafile=cafile)]

    def handle(self, topic: str, payload: Any, *, retained: bool = False) -> tuple[bool, str]:
        """Validate one ack message and apply it; (accepted, reason). Never raises."""
        ok, message, channel = self._handle(topic, payload, retained)
        self.results.append((channel, ok, message))
        del self.results[:-100]
        if not ok:
            self._warn_rejected(topic, message)
        return ok, message

    def _warn_rejected(self, topic: str, reason: str) -> None:
        """One warning per ``REJECTION_LOG_EVERY_S`` at most; the ones in between are counted in the next."""
        now = time.monotonic()
        if now - self._warned_at < REJECTION_LOG_EVERY_S:
            self._unlogged += 1
            return
        log.warning(
            "alarm acknowledgement over MQTT rejected",
            topic=topic,
            reason=reason,
            rejected_since_last_warning=self._unlogged,
        )
        self._warned_at, self._unlogged = now, 0

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
        if not signed:
            if not self.unsigned_ok:
                why = (
                    "accept_unsigned is not set"
                    if not self.cfg.accept_unsigned
                    else "the broker lets clients without an account connect"
                )
                return False, f"unsigned: this listener accepts only signed acknowledgements ({why})", channel
        elif self.keys is None:
            return False, "signed, but no signing keys are configured ([alarms.mqtt_ack] keys_file)", channel
        else:
            refusal = signing.verify(
                data, keys=self.keys, site=self.site, channel=channel, now=self.now(), nonces=self.nonces
            )
            if refusal is not None:
                return False, refusal, channel
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
