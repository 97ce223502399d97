"""The MQTT sink: the topic contract of docs/architecture.md#mqtt (docs/mqtt.md), fed from the journal.

The connection is an explicit loop::

    while running:
        connect (last will: {root}/status = "offline", retained)
        publish {root}/status = "online" (retained), Home Assistant discovery
        replay the journal from the cursor, then follow commits
        on any MQTT error: log one line, wait (1 s doubling to reconnect_max_s), reconnect

A batch's cursor is acknowledged only after the broker confirmed every QoS 1
publish of it, so a lost connection replays the batch (at-least-once; ``seq``
in every payload lets subscribers drop duplicates).

``channels/{channel}/state`` (retained) is not part of that replay: the sink
watches the pipeline's samples as they happen, and publishes each channel's
latest one once the journal has committed it, beside the replay. After an
outage the state is current as soon as the broker is back, while the ordered
``sample`` stream is still catching up; a sample of the backlog never
overwrites it.

An ``alarm_events`` row goes to its rule's topic ``channels/{channel}/alarms/{rule}``
and updates ``channels/{channel}/alarm``, the channel's worst state across its
rules. That needs every rule's latest row: each session starts by reading them
from the journal as of the cursor, so a replay rebuilds exactly what was published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
import structlog
from paho.mqtt.client import MQTT_ERR_SUCCESS

from radsurvey.config.schema import DaemonConfig
from radsurvey.config.sinks import MqttConfig

from ..alarms.store import ack_targets as alarm_rule_names
from .base import Backoff, CursorSink, JournalRow, checkpoint
from .payloads import (
    HA_ATTRIBUTE_KEYS,
    MQTT_ROUTES,
    MqttRoute,
    channel_alarm_payload,
    dumps,
    ha_object_ids,
    sample_payload,
)

if TYPE_CHECKING:
    from ..pipeline import Sample
    from ..supervisor import Daemon
    from .hub import SinkHub

log = structlog.get_logger("radsurvey.sinks.mqtt")


class MqttSink(CursorSink):
    """Publishes journal rows per the topic contract; also the site status and sink status topics."""

    def __init__(self, cfg: DaemonConfig, mqtt: MqttConfig, *, hub: SinkHub | None = None, name: str = "mqtt"):
        tables = [
            t
            for t in MQTT_ROUTES
            if (t != "readings" or mqtt.publish_readings) and (t != "samples" or mqtt.publish_samples)
        ]
        super().__init__(name=name, tables=tables, batch_size=mqtt.batch_size)
        self.cfg = cfg
        self.mqtt = mqtt
        self.hub = hub
        self.root = f"{mqtt.prefix}/{cfg.site.id}"
        self.status_topic = f"{self.root}/status"
        self.client_id = mqtt.client_id or f"radsurvey-{cfg.site.id}"
        self._password = mqtt.password()  # resolved once, at start: a missing file is a config error
        self._meters: dict[str, dict[str, Any]] = {}
        # channel -> rule -> its latest alarm_events row (as published), for the configured rules
        self._alarm_rows: dict[str, dict[str, dict[str, Any]]] = {}
        # with the rules the service adds itself: the local command's and the journal's health
        self._rule_names = alarm_rule_names(cfg)
        self._client: aiomqtt.Client | None = None
        self._window: AckWindow | None = None
        # channel -> its latest sample as the pipeline made it (live, never from the journal), and the
        # seq of the one last published on channels/{channel}/state in this session
        self._live: dict[str, dict[str, Any]] = {}
        self._state_sent: dict[str, int] = {}
        self._state_wake: asyncio.Event | None = None

    # -- connection -------------------------------------------------------------------------

    def _client_for(self) -> aiomqtt.Client:
        m = self.mqtt
        tls_context = tls_context_for(m)
        return aiomqtt.Client(
            m.host,
            m.port,
            username=m.username,
            password=self._password.get_secret_value() if self._password else None,
            identifier=self.client_id,
            keepalive=m.keepalive_s,
            timeout=m.connect_timeout_s,
            will=aiomqtt.Will(self.status_topic, b"offline", qos=1, retain=True),
            tls_context=tls_context,
            # Unbounded in paho: the sink bounds what is in flight itself (one
            # batch), and paho's bounded mode rescans its queue on every PUBACK.
            max_inflight_messages=0,
            logger=_quiet_paho_logger(),
            clean_session=True,
        )

    async def run(self, daemon: Daemon) -> None:
        await self.attach(daemon)
        if self.mqtt.publish_samples:
            self._watch_live_samples(daemon)
        backoff = Backoff(self.mqtt.reconnect_initial_s, self.mqtt.reconnect_max_s)
        try:
            await asyncio.to_thread(self._seed_meters)
            while True:  # the reconnect loop (see module docstring)
                checkpoint()
                try:
                    await self._session(backoff)
                    message = "session ended"
                except Exception as err:
                    message = describe_error(err, self.mqtt.ca_file)
                    if not isinstance(unwrap(err), aiomqtt.MqttError):
                        log.error("mqtt sink failed", sink=self.name, error=message, exc_info=True)
                finally:
                    reached = self.connected
                    self.connected = False
                    self._client = self._window = None
                self.record_error(message)
                delay = backoff.take()
                log.warning(
                    # "lost" only for a connection we had: a broker never reached was never lost
                    "mqtt connection lost; reconnecting" if reached else "mqtt connection failed; retrying",
                    sink=self.name,
                    host=self.mqtt.host,
                    port=self.mqtt.port,
                    error=message,
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)
        finally:
            if self.on_live_sample in daemon.observers.samples:
                daemon.observers.samples.remove(self.on_live_sample)
            self._state_wake = None
            self.detach()

    async def _session(self, backoff: Backoff) -> None:
        await asyncio.to_thread(self._seed_alarms)
        async with self._client_for() as client:
            self._client = client
            self._window = AckWindow(client)
            self.connected = True
            log.info(
                "mqtt connected", sink=self.name, host=self.mqtt.host, port=self.mqtt.port, client_id=self.client_id
            )
            try:
                await client.publish(self.status_topic, b"online", qos=1, retain=True)
                backoff.reset()
                if self.mqtt.homeassistant:
                    await client.subscribe(f"{self.mqtt.discovery_prefix}/status", qos=1)
                    await self.publish_discovery(client)
                jobs = [self._status_loop(client), self.pump(self._deliver)]
                if self._state_wake is not None:
                    self._state_sent = {}  # a new session: the broker may have lost what was retained
                    jobs.append(self._state_loop(client))
                if self.mqtt.homeassistant:
                    jobs.append(self._ha_status(client))
                await first_failure(jobs)
            finally:
                # A clean stop says "offline" itself (the will covers crashes).
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.publish(self.status_topic, b"offline", qos=1, retain=True), 2.0)

    # -- delivery -------------------------------------------------------------------------------

    async def _deliver(self, rows: list[JournalRow]) -> None:
        window = self._window
        assert window is not None
        messages = [message for row in rows for message in self.messages_for(row)]
        if messages:
            await window.publish_all(messages, stall_timeout_s=self.mqtt.connect_timeout_s)
            checkpoint()

    def messages_for(self, row: JournalRow) -> list[tuple[str, bytes, int, bool]]:
        """The (topic, payload, qos, retain) messages of one journal row; none if it cannot be routed."""
        route: MqttRoute = MQTT_ROUTES[row.table]
        data = row.data
        if row.table == "meter_events":
            payload = self._meter_state(data)
        else:
            if row.table == "readings":
                self._meters.setdefault(data["meter"], {})["last_seen"] = data["ts"]
            payload = route.payload(data)
        try:
            topic = f"{self.root}/" + route.topic.format(**data)
        except KeyError as err:
            log.error("row cannot be routed; skipped", sink=self.name, table=row.table, seq=row.seq, missing=str(err))
            return []
        out = [(topic, dumps(payload), route.qos, route.retain)]
        if row.table == "alarm_events":
            channel = str(data["channel"])
            self._remember_alarm(data)
            summary = channel_alarm_payload(channel, self._alarm_rows.get(channel, {}), data)
            out.append((f"{self.root}/channels/{channel}/alarm", dumps(summary), route.qos, True))
        return out

    def _remember_alarm(self, row: dict[str, Any]) -> None:
        # Only rules the alarm service runs: a rule removed from the config is not judged
        # any more, and its last state must not hold the channel in alarm forever.
        channel, rule = str(row["channel"]), str(row["rule"])
        if rule in self._rule_names.get(channel, ()):
            self._alarm_rows.setdefault(channel, {})[rule] = dict(row)

    def _seed_alarms(self) -> None:
        """Every rule's latest alarm event as of the cursor, so the channel states continue from there."""
        assert self._feed is not None
        self._alarm_rows = {}
        for row in self._feed.latest_alarm_events(self.cursor):
            self._remember_alarm(row)

    def _meter_state(self, row: dict[str, Any]) -> dict[str, Any]:
        known = self._meters.setdefault(row["meter"], {})
        detail = json.loads(row["detail"] or "{}")
        identity = detail.get("identity") or {}
        if identity:
            known["model"] = identity.get("model", "")
            known["serial"] = identity.get("serial", "")
        connected = row["state"] == "connected"
        if connected:
            known["last_seen"] = row["ts"]
        return {
            "seq": row["seq"],
            "ts": row["ts"],
            "meter": row["meter"],
            "state": row["state"],
            "connected": connected,
            "model": known.get("model"),
            "serial": known.get("serial"),
            "last_seen": known.get("last_seen"),
            "error": None if connected or row["state"] == "connecting" else (row["reason"] or row["state"]),
        }

    def _seed_meters(self) -> None:
        """Model/serial/last_seen of each meter as of the cursor, so a restart publishes full states."""
        assert self._feed is not None
        for r in self._feed.meter_events(self.cursor):
            known = self._meters.setdefault(r["meter"], {})
            identity = json.loads(r["detail"] or "{}").get("identity") or {}
            if identity:
                known["model"] = identity.get("model", "")
                known["serial"] = identity.get("serial", "")
            if r["state"] == "connected":
                known["last_seen"] = r["ts"]
        for meter, ts in self._feed.last_reading_times(self.cursor).items():
            self._meters.setdefault(meter, {})["last_seen"] = ts

    # -- live state --------------------------------------------------------------------------------

    def _watch_live_samples(self, daemon: Daemon) -> None:
        loop = asyncio.get_running_loop()
        wake = self._state_wake = asyncio.Event()

        def on_commit(_seq: int) -> None:  # journal writer thread
            if self._state_wake is wake and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(wake.set)
                except RuntimeError:  # loop closing
                    pass

        daemon.journal.add_commit_listener(on_commit)
        daemon.observers.samples.append(self.on_live_sample)

    def on_live_sample(self, sample: Sample) -> None:
        """The pipeline made a sample (event loop, data path: only remember it)."""
        row = sample.row()
        row["seq"] = sample.seq
        self._live[sample.channel] = row
        if self._state_wake is not None:
            self._state_wake.set()

    def due_states(self, committed_seq: int) -> list[tuple[str, bytes]]:
        """(topic, payload) of each channel whose latest live sample is committed and not yet published."""
        out = []
        for channel, row in self._live.items():
            seq = int(row["seq"])
            if 0 < seq <= committed_seq and seq > self._state_sent.get(channel, 0):
                out.append((f"{self.root}/channels/{channel}/state", dumps(sample_payload(row))))
                self._state_sent[channel] = seq
        return out

    async def _state_loop(self, client: aiomqtt.Client) -> None:
        # Not through the journal feed: a state is published once the journal holds its
        # sample (the commit wakes us), so nothing is published that a crash could lose.
        wake = self._state_wake
        assert wake is not None
        while True:
            checkpoint()
            wake.clear()
            for topic, payload in self.due_states(self.committed_seq):
                await client.publish(topic, payload, qos=1, retain=True)
            await wake.wait()

    # -- site and sink status, Home Assistant -----------------------------------------------------

    async def _status_loop(self, client: aiomqtt.Client) -> None:
        topic = f"{self.root}/status/sinks"
        while True:
            checkpoint()
            status = self.hub.status() if self.hub is not None else {"sinks": {self.name: self.status()}}
            await client.publish(topic, dumps(status), qos=1, retain=True)
            await asyncio.sleep(self.mqtt.status_interval_s)

    def discovery_messages(self) -> list[tuple[str, bytes]]:
        """Home Assistant discovery: one sensor per channel that publishes samples (effective dose rate E).

        The keys are those of Home Assistant's MQTT sensor schema (docs/mqtt.md
        names the versions): ``default_entity_id`` is what 2025.10 and later
        read for the entity id, ``object_id`` what earlier versions read. A
        channel that publishes nothing (its meter disabled, or
        ``publish_samples = false``) gets an empty retained config, which
        removes a sensor discovered before.
        """
        site = self.cfg.site
        device = {
            "identifiers": [f"radsurvey-{site.id}"],
            "name": site.name or f"radsurvey {site.id}",
            "manufacturer": "radsurvey",
            "model": "radiation monitor",
        }
        enabled = {m.id for m in self.cfg.meters if m.enabled}
        ids = ha_object_ids(site.id, [ch.id for ch in self.cfg.channels])
        node = f"radsurvey_{site.id.replace('.', '_')}"
        attributes = "{{ {" + ", ".join(f"'{k}': value_json.{k}" for k in HA_ATTRIBUTE_KEYS) + "} | tojson }}"
        out = []
        for ch in self.cfg.channels:
            object_id = ids[ch.id]
            topic = f"{self.mqtt.discovery_prefix}/sensor/{node}/{object_id}/config"
            if not (self.mqtt.publish_samples and ch.meter in enabled):
                out.append((topic, b""))
                continue
            entity = f"radsurvey_{object_id}_effective"
            state_topic = f"{self.root}/channels/{ch.id}/state"
            config = {
                "name": f"{ch.location or ch.id} dose rate",
                "unique_id": entity,
                "default_entity_id": f"sensor.{entity.lower()}",
                "object_id": entity,
                "state_topic": state_topic,
                "value_template": "{{ value_json.effective_uSv_h }}",
                "json_attributes_topic": state_topic,
                "json_attributes_template": attributes,
                "unit_of_measurement": "µSv/h",
                "state_class": "measurement",
                "suggested_display_precision": 3,
                "expire_after": self.cfg.ha_expire_after_s(ch),
                "availability_topic": self.status_topic,
                "payload_available": "online",
                "payload_not_available": "offline",
                "device": device,
            }
            out.append((topic, dumps(config)))
        return out

    async def publish_discovery(self, client: aiomqtt.Client) -> None:
        for topic, payload in self.discovery_messages():
            await client.publish(topic, payload, qos=1, retain=True)

    async def _ha_status(self, client: aiomqtt.Client) -> None:
        # Home Assistant says "online" on its status topic after it restarts: send discovery again.
        async for message in client.messages:
            checkpoint()
            if message.topic.matches(f"{self.mqtt.discovery_prefix}/status") and message.payload == b"online":
                log.info("home assistant came online; discovery sent again", sink=self.name)
                await self.publish_discovery(client)


class AckWindow:
    """Publishes a batch through paho directly and waits for every PUBACK of it at once.

    ``aiomqtt.Client.publish`` costs a task, a timeout and a scan of every
    pending call per message, which made the sink slower than the broker at
    batch sizes that hide the round trip. This window hands the whole batch to
    paho (which aiomqtt drives on this event loop) and counts the
    acknowledgements in paho's ``on_publish``, chained after aiomqtt's own.
    aiomqtt keeps its paho client private (``_client``; pinned ``aiomqtt<3``).
    """

    def __init__(self, client: aiomqtt.Client):
        self._paho = client._client
        self._waiting: set[int] = set()
        self._progress = asyncio.Event()
        chained = self._paho.on_publish

        def on_publish(*args: Any) -> None:  # paho's callback API v2: client, userdata, mid, reason, properties
            if chained is not None:
                chained(*args)
            if self._waiting:
                self._waiting.discard(args[2])
                self._progress.set()

        self._paho.on_publish = on_publish

    async def publish_all(self, messages: list[tuple[str, bytes, int, bool]], *, stall_timeout_s: float) -> None:
        """Publish every message; return when the broker acknowledged all QoS 1/2 ones.

        Raises ``aiomqtt.MqttError`` when paho refuses a publish (not connected)
        or no acknowledgement arrives for ``stall_timeout_s``; the caller
        reconnects and replays the batch from its cursor.
        """
        self._waiting.clear()
        for topic, payload, qos, retain in messages:
            info = self._paho.publish(topic, payload, qos, retain)
            if info.rc != MQTT_ERR_SUCCESS:
                self._waiting.clear()
                raise aiomqtt.MqttCodeError(info.rc, "could not publish message")
            if qos > 0 and not info.is_published():
                self._waiting.add(info.mid)
        while self._waiting:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), stall_timeout_s)
            except TimeoutError:
                left = len(self._waiting)
                self._waiting.clear()
                raise aiomqtt.MqttError(
                    f"no acknowledgement from the broker for {stall_timeout_s:g} s ({left} publishes waiting)"
                ) from None


class _ClosingSSLSocket(ssl.SSLSocket):
    """Closes itself when the TLS handshake fails.

    paho-mqtt drops the socket of a failed handshake (untrusted broker
    certificate, client certificate refused) without closing it, so every
    reconnect attempt would leave an open socket to the garbage collector.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context_for(m: MqttConfig) -> ssl.SSLContext | None:
    """The TLS context of an ``[mqtt]`` section (None without ``tls``); shared with the ack listener."""
    if not m.tls:
        return None
    context = ssl.create_default_context(cafile=str(m.ca_file) if m.ca_file else None)
    context.sslsocket_class = _ClosingSSLSocket
    if m.cert_file and m.key_file:
        context.load_cert_chain(str(m.cert_file), str(m.key_file))
    return context


def _quiet_paho_logger() -> logging.Logger:
    # aiomqtt warns "There are N pending publish calls" for every publish beyond 10
    # in flight; we keep a whole batch in flight on purpose, and our own loop logs
    # connection problems, so only its errors are of interest.
    logger = logging.getLogger("radsurvey.sinks.mqtt.client")
    logger.setLevel(logging.ERROR)
    return logger


async def first_failure(jobs: list[Any]) -> None:
    """Run coroutines until the first one fails, then cancel the others and raise its error.

    (Not a TaskGroup: in Python 3.11 a failing child can leave the parent task
    with a pending cancel request, which would end the reconnect loop.)
    """
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def unwrap(err: BaseException) -> BaseException:
    """The first leaf of an exception group (TaskGroup wraps what its tasks raised)."""
    while isinstance(err, BaseExceptionGroup) and err.exceptions:
        err = err.exceptions[0]
    return err


def describe_error(err: BaseException, ca_file: Path | None = None) -> str:
    """One line for logs/status; never contains credentials."""
    err = unwrap(err)
    text = str(err) or type(err).__name__
    if isinstance(err, aiomqtt.MqttError):
        low = text.lower()
        if "not authori" in low or "bad user name or password" in low:
            return f"broker refused the credentials ({text}); check username and password_env/password_file"
        if "certificate verify failed" in low:
            trusted = f"ca_file {ca_file}" if ca_file else "the system's CA certificates"
            return f"TLS: the broker's certificate is not trusted by {trusted} ({text})"
    return text
