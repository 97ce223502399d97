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
import math
from collections import deque
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

import aiomqtt
import structlog

from radsurvey.config.schema import DaemonConfig
from radsurvey.config.sinks import MqttConfig
from radsurvey.protocols.backoff import Backoff

from ..alarms.store import ack_targets as alarm_rule_names
from ..journal import connect, points
from ..journal.feed import JournalRow
from ..mqtt_session import describe_error, quiet_client_logger, reconnect_loop, tls_context_for, unwrap
from .base import CursorSink, checkpoint
from .payloads import (
    HA_ATTRIBUTE_KEYS,
    MQTT_ROUTES,
    CompactMessages,
    Message,
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

    # Readings and samples as compact tuples past the views; their JSON from a template per context.
    readers = {"readings": points.READING_MESSAGES_SQL, "samples": points.SAMPLE_MESSAGES_SQL}  # noqa: RUF012

    def __init__(self, cfg: DaemonConfig, mqtt: MqttConfig, *, hub: SinkHub | None = None, name: str = "mqtt"):
        tables = [
            t
            for t in MQTT_ROUTES
            if (t != "readings" or mqtt.publish_readings) and (t != "samples" or mqtt.publish_samples)
        ]
        super().__init__(name=name, tables=tables, batch_size=mqtt.batch_size)
        # No read-ahead: submit() returns once a page is handed over, with up to max_inflight of it awaiting
        # their PUBACKs, so the next page is read while those come in. Reading it while this one is
        # still being sent, too, only had both threads wait for the GIL (benchmarks/README.md, "Replay").
        self.cfg = cfg
        self.mqtt = mqtt
        self.hub = hub
        self.root = f"{mqtt.prefix}/{cfg.site.id}"
        self.status_topic = f"{self.root}/status"
        self.client_id = mqtt.client_id or f"radsurvey-{cfg.site.id}"
        self._password = mqtt.password()  # resolved once, at start: a missing file is a config error
        self._meters: dict[str, dict[str, Any]] = {}
        self._compact = CompactMessages(self.root)
        self._reading_ctx: dict[int, dict[str, Any]] = {}
        self._sample_ctx: dict[int, dict[str, Any]] = {}
        # channel -> rule -> its latest alarm_events row (as published), for the configured rules
        self._alarm_rows: dict[str, dict[str, dict[str, Any]]] = {}
        # with the rules the service adds itself: the local command's and the journal's health
        self._rule_names = alarm_rule_names(cfg)
        self._client: aiomqtt.Client | None = None
        self._publisher: InflightPublisher | None = None
        self._reached = False  # the last session got connected (its failure is a lost connection)
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
            # Unbounded in paho: the sink bounds what is in flight itself (InflightPublisher),
            # and paho's bounded mode rescans its queue on every PUBACK.
            max_inflight_messages=0,
            logger=quiet_client_logger(),
            clean_session=True,
        )

    async def run(self, daemon: Daemon) -> None:
        await self.attach(daemon)
        if self.mqtt.publish_samples:
            self._watch_live_samples(daemon)
        backoff = Backoff(self.mqtt.reconnect_initial_s, self.mqtt.reconnect_max_s)

        def failed(err: BaseException, delay: float) -> None:
            message = describe_error(err, self.mqtt.ca_file)
            if not isinstance(unwrap(err), aiomqtt.MqttError):
                log.error("mqtt sink failed", sink=self.name, error=message, exc_info=err)
            self.record_error(message)
            log.warning(
                # "lost" only for a connection we had: a broker never reached was never lost
                "mqtt connection lost; reconnecting" if self._reached else "mqtt connection failed; retrying",
                sink=self.name,
                host=self.mqtt.host,
                port=self.mqtt.port,
                error=message,
                retry_in_s=delay,
            )

        try:
            await asyncio.to_thread(self._seed_meters)
            await reconnect_loop(self._session, backoff, failed, retry_on=(Exception,))
        finally:
            if self.on_live_sample in daemon.observers.samples:
                daemon.observers.samples.remove(self.on_live_sample)
            self._state_wake = None
            self.detach()

    async def _session(self, backoff: Backoff) -> bool:
        """One connection: status, discovery, the replay and the live state, until something fails."""
        self._reached = False
        try:
            await self._connected_session(backoff)
        finally:
            self._reached = self.connected
            self.connected = False
            if self._publisher is not None:
                await self._publisher.close()
            self._client = self._publisher = None
        return False  # never done: reconnect

    async def _connected_session(self, backoff: Backoff) -> None:
        await asyncio.to_thread(self._seed_alarms)
        async with self._client_for() as client:
            self._client = client
            self._publisher = InflightPublisher(client, self.mqtt.max_inflight, self.mqtt.connect_timeout_s)
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
                jobs = [self._status_loop(client), self.pump(self._deliver), self._publisher.watch()]
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

    def prepare(self, rows: Sequence[JournalRow]) -> list[Message]:
        """The page's messages, built in the reader's thread while the previous page is published.

        Pages are prepared one at a time and in seq order (the feed has one
        reader), so the meters' and alarm rules' state that the payloads carry
        follows the journal as it would on the loop.
        """
        out: list[Message] = []
        compact, readings, samples, meters = self._compact, self._reading_ctx, self._sample_ctx, self._meters
        for row in rows:
            data = row.data
            if type(data) is not tuple:
                out.extend(self.messages_for(row))
                continue
            try:
                if row.table == "samples":
                    out.append(compact.sample(data, samples.get(data[1]) or self._context("samples", data[1])))
                else:
                    context = readings.get(data[1]) or self._context("readings", data[1])
                    meters.setdefault(context["meter"], {})["last_seen"] = data[3]
                    out.append(compact.reading(data, context))
            except (KeyError, ValueError, TypeError) as err:
                log.error(
                    "row cannot be published; skipped", sink=self.name, table=row.table, seq=row.seq, error=str(err)
                )
        return out

    def _context(self, table: str, k: int) -> dict[str, Any]:
        """What a compact row's context id stands for (read again when a new one appears; reader thread)."""
        assert self.journal is not None
        conn = connect(self.journal.path, readonly=True)
        try:
            self._reading_ctx.update(points.reading_message_contexts(conn))
            self._sample_ctx.update(points.sample_message_contexts(conn))
        finally:
            conn.close()
        found = (self._sample_ctx if table == "samples" else self._reading_ctx).get(k)
        if found is None:
            raise KeyError(f"{table} context {k} is not in the journal")
        return found

    def row_time(self, row: JournalRow) -> str | None:
        if type(row.data) is tuple:
            ts = row.data[points.MR_TS]  # the same column in both tables' compact rows
            return ts if isinstance(ts, str) else None
        return super().row_time(row)

    async def _deliver(
        self, rows: Sequence[JournalRow], prepared: list[Message] | None = None
    ) -> Awaitable[None] | None:
        """Hand the rows' messages to the publisher; what is returned completes when the broker has them all."""
        publisher = self._publisher
        assert publisher is not None
        messages = prepared if prepared is not None else self.prepare(rows)
        if not messages:
            return None
        acknowledged = await publisher.submit(messages)
        checkpoint()
        return acknowledged

    def messages_for(self, row: JournalRow) -> list[Message]:
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
            checkpoint()  # a cancel a publish swallowed: the wait below has no timeout to bring us back
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


class InflightPublisher:
    """Keeps QoS 1 publishes in flight continuously, up to ``limit`` at once, through ``aiomqtt.Client.publish``.

    A batch does not wait for the PUBACKs of the one before: :meth:`submit`
    returns as soon as its messages are handed to the client (waiting only
    while ``limit`` are unacknowledged) with a future that completes when the
    broker acknowledged every one of them, and fails with the first
    publish's error (aiomqtt's ``MqttError``: not connected). The sink moves
    its cursor past a batch only when its future completed, in order, so a
    lost connection still replays from the first unacknowledged batch.

    A PUBACK that does not come is found by :meth:`watch`, one timer for every
    publish instead of one each: aiomqtt's own per-publish timeout runs each
    publish's wait in a task of its own with a timer, about a fifth of the
    client's cost per message in a replay (benchmarks/README.md, "Replay").
    """

    def __init__(self, client: aiomqtt.Client, limit: int, timeout_s: float):
        self.client = client
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self.error: BaseException | None = None
        self._since = 0.0  # loop time of the last PUBACK, or of the first publish sent while none was waiting
        self._batches: deque[tuple[asyncio.Future[None], float]] = deque()  # (acknowledged, time all were sent)

    async def submit(self, messages: list[Message]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        acknowledged: asyncio.Future[None] = loop.create_future()
        left = len(messages)

        def finished(task: asyncio.Task[None]) -> None:
            nonlocal left
            self._tasks.discard(task)
            self._slots.release()
            self._since = loop.time()
            error = None if task.cancelled() else task.exception()  # retrieved even when the batch failed already
            if acknowledged.done():
                return
            if task.cancelled():  # close(): the session is over
                acknowledged.cancel()
                return
            if error is not None:
                self.error = self.error or error
                acknowledged.set_exception(error)
                return
            left -= 1
            if left == 0:
                acknowledged.set_result(None)

        publish, tasks = self.client.publish, self._tasks
        for topic, payload, qos, retain in messages:
            if self.error is not None:
                raise self.error
            await self._slots.acquire()
            if not tasks:
                self._since = loop.time()
            # math.inf: aiomqtt awaits the PUBACK itself, with no task and timer of its own (watch() times it)
            task = loop.create_task(publish(topic, payload, qos, retain, timeout=math.inf))
            tasks.add(task)
            task.add_done_callback(finished)
        if left == 0:
            acknowledged.set_result(None)
        else:
            self._batches.append((acknowledged, loop.time()))
        return acknowledged

    async def watch(self) -> None:
        """Raise ``MqttError`` when a PUBACK is overdue: the session ends and the batches are replayed.

        Overdue: publishes have waited ``timeout_s`` with no PUBACK at all (a
        broker or a link that stopped), or the oldest unacknowledged batch was
        sent in full ``timeout_s`` ago (one PUBACK missing while others come).
        Checked at least every quarter of ``timeout_s``.
        """
        loop = asyncio.get_running_loop()
        batches = self._batches
        while True:
            checkpoint()
            while batches and batches[0][0].done():
                batches.popleft()
            now = loop.time()
            if self._tasks and now - self._since >= self.timeout_s:
                raise aiomqtt.MqttError(f"no PUBACK for {self.timeout_s:g} s ({len(self._tasks)} publishes waiting)")
            if batches and now - batches[0][1] >= self.timeout_s:
                raise aiomqtt.MqttError(f"a batch sent {self.timeout_s:g} s ago is not acknowledged")
            await asyncio.sleep(self.timeout_s / 4)

    async def close(self) -> None:
        """Stop every publish still waiting (the connection is gone; the batches are replayed)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._batches.clear()


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
