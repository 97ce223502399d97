"""Helpers for the sink tests: configs, an in-process daemon, an MQTT recorder, checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from radsurvey.config import parse_config
from radsurvey.config.schema import DaemonConfig
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.sinks import build_services
from radsurvey.daemon.sinks.base import CursorSink
from radsurvey.daemon.supervisor import Daemon

SITE = "lab"
ROOT = f"radsurvey/{SITE}"


def restart_on_same_port(server: Any, attempts: int = 3) -> None:
    """Start a stopped server again on its port.

    A client that keeps reconnecting to a closed loopback port can, rarely, be
    given that very port as its own source port (a TCP self-connect), and the
    server then cannot bind for a moment; so try again.
    """
    for attempt in range(attempts):
        try:
            server.start()
            return
        except RuntimeError:
            if attempt == attempts - 1:
                raise
            time.sleep(1.0)


def config_dict(
    tmp_path: Path,
    *,
    mqtt_port: int | None = None,
    influx_url: str | None = None,
    meters: int = 1,
    poll_interval_s: float = 0.05,
    mqtt: dict[str, Any] | None = None,
    influxdb: dict[str, Any] | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "site": {"id": SITE, "name": "Test lab"},
        "journal": {"path": str(tmp_path / "journal.sqlite"), "commit_interval_s": 0.1},
        "meters": [
            {
                "id": f"m{i}",
                "driver": "simulated",
                "poll_interval_s": poll_interval_s,
                "seed": i,
                "background_uGy_h": 5.0,
                "counts_per_uGy": 1e6,
                "serial": f"SIM-{i:04d}",
                "enabled": enabled,
            }
            for i in range(1, meters + 1)
        ],
        "channels": [
            {"id": f"ch{i}", "meter": f"m{i}", "room_category": 1, "height_cm": 100, "location": f"desk {i}"}
            for i in range(1, meters + 1)
        ],
    }
    if mqtt_port is not None:
        data["mqtt"] = {
            "port": mqtt_port,
            "reconnect_initial_s": 0.5,
            "reconnect_max_s": 2.0,
            "connect_timeout_s": 3.0,
            "status_interval_s": 0.5,
            **(mqtt or {}),
        }
    if influx_url is not None:
        data["influxdb"] = {
            "url": influx_url,
            "flush_interval_s": 0.1,
            "timeout_s": 2.0,
            "retry_initial_s": 0.5,
            "retry_max_s": 2.0,
            **(influxdb or {}),
        }
    return data


def make_config(tmp_path: Path, **kw: Any) -> DaemonConfig:
    return parse_config(config_dict(tmp_path, **kw), environ={})


@dataclass
class RunningDaemon:
    daemon: Daemon
    journal: Journal
    task: asyncio.Task[None]

    def sink(self, name: str) -> CursorSink:
        return next(s for s in self.daemon.services if getattr(s, "name", "") == name)  # type: ignore[return-value]

    def max_reading_seq(self) -> int:
        self.journal.flush()
        return self.journal.committed_seq

    async def stop(self) -> None:
        self.daemon.stop_event.set()
        done, _ = await asyncio.wait({self.task}, timeout=15)
        if not done:
            stacks = []
            for t in asyncio.all_tasks():
                stacks.append(f"{t.get_name()}: {t.get_stack(limit=5)}")
            raise AssertionError("daemon did not stop within 15 s; tasks:\n" + "\n".join(stacks))
        self.task.result()
        await asyncio.to_thread(self.journal.close)


async def start_daemon(cfg: DaemonConfig) -> RunningDaemon:
    journal = Journal(cfg.journal.path, commit_interval_s=cfg.journal.commit_interval_s)
    daemon = Daemon(cfg, journal, services=build_services(cfg))
    task = asyncio.create_task(daemon.run(), name="daemon")
    return RunningDaemon(daemon, journal, task)


async def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@dataclass
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class MqttRecorder:
    """Subscribes to a topic filter and records everything; reconnects quickly if the broker goes away.

    With ``session`` (a client id) the subscription is a persistent session
    (clean session off, QoS 2): what is published while the recorder is away,
    e.g. a daemon that reconnects to a restarted broker first and replays its
    backlog before the recorder is back, waits for it in the broker's queue.
    That needs a broker that keeps sessions over its restart
    (``Mosquitto(persistent=True)``).
    """

    port: int
    topic: str = "#"
    messages: list[Received] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    username: str | None = None
    password: str | None = None
    session: str | None = None
    _task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    username=self.username,
                    password=self.password,
                    timeout=2,
                    keepalive=10,
                    identifier=self.session,
                    clean_session=None if self.session is None else False,
                ) as client:
                    await client.subscribe(self.topic, qos=2)
                    self.connected.set()
                    async for m in client.messages:
                        self.messages.append(Received(str(m.topic), bytes(m.payload), m.qos, bool(m.retain)))  # type: ignore[arg-type]
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)

    async def __aenter__(self) -> MqttRecorder:
        self._task = asyncio.create_task(self._loop(), name="mqtt-recorder")
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def on(self, suffix: str) -> list[Received]:
        return [m for m in self.messages if m.topic.endswith(suffix)]

    def reading_seqs(self) -> list[int]:
        return [m.json()["seq"] for m in self.messages if m.topic.endswith("/reading")]


def journal_reading_seqs(path: Path, upto: int | None = None) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        if upto is None:
            return [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
        return [r[0] for r in conn.execute("SELECT seq FROM readings WHERE seq <= ? ORDER BY seq", (upto,))]
    finally:
        conn.close()


def ms_collisions(path: Path) -> list[set[int]]:
    """Groups of readings of one meter that share a millisecond.

    VictoriaMetrics stores milliseconds and keeps one sample per series and
    timestamp, so of such a group only one can be read back (InfluxDB keeps all:
    the sink gives each a distinct sub-millisecond part).
    """
    from radsurvey.daemon.sinks.payloads import ts_ms

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        groups: dict[tuple[str, int], set[int]] = {}
        for seq, meter, ts in conn.execute("SELECT seq, meter, ts FROM readings"):
            groups.setdefault((meter, ts_ms(ts)), set()).add(seq)
    finally:
        conn.close()
    return [g for g in groups.values() if len(g) > 1]


def victoria_view(received: list[int], path: Path) -> list[int]:
    """``received`` with every millisecond-collision group completed when one of it arrived."""
    got = set(received)
    extra = [s for g in ms_collisions(path) if g & got for s in g - got]
    return received + extra


def influx_reading_seqs(
    victoria: Any, expected: list[int] | None = None, path: Path | None = None, timeout_s: float = 10.0
) -> list[int]:
    """Every reading seq VictoriaMetrics holds (one per stored point, duplicates included).

    VictoriaMetrics answers 204 before the points are searchable; with ``expected``
    this polls until they all show up (or the time is up, and the caller's check fails).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        out: list[int] = []
        for series in victoria.export('{__name__="reading_seq"}'):
            out.extend(int(v) for v in series["values"])
        if expected is None or time.monotonic() > deadline:
            return out
        view = set(victoria_view(out, path)) if path is not None else set(out)
        if set(expected) <= view:
            return out
        time.sleep(0.25)


def assert_delivered(
    name: str, received: list[int], expected: list[int], journal_all: list[int], *, ordered: bool
) -> None:
    """Every expected seq arrived, none invented; with ``ordered`` first arrivals are in seq order."""
    got = set(received)
    missing = sorted(set(expected) - got)
    assert not missing, f"{name}: {len(missing)} readings never arrived, e.g. {missing[:10]}"
    invented = sorted(got - set(journal_all))
    assert not invented, f"{name}: {len(invented)} readings that the journal never had, e.g. {invented[:10]}"
    if ordered:
        first: list[int] = []
        seen: set[int] = set()
        for s in received:
            if s not in seen:
                seen.add(s)
                first.append(s)
        assert first == sorted(first), f"{name}: first arrivals out of seq order"


_READING_SEQ = re.compile(r" (?:.*,)?seq=(\d+)i")


@dataclass
class InfluxDelivery:
    """What the InfluxDB server took, request by request, and what the sink's cursor passed too early."""

    accepted: list[int] = field(default_factory=list)  # reading seqs, in the order their requests were taken
    passed_early: list[int] = field(default_factory=list)  # reading seqs the cursor passed before they were taken


def record_influx_delivery(running: RunningDaemon) -> InfluxDelivery:
    """Record the reading seqs the InfluxDB server accepted, and check the cursor at each of its moves.

    Wraps the sink's request method and its cursor move (their behaviour
    unchanged) before it sends anything; a request that failed is not
    recorded, a re-sent one is again. Pages may be taken out of order (two are
    written at once), but the cursor must never pass a reading the server has
    not taken: each such reading is noted in ``passed_early``.
    """
    sink = running.sink("influxdb")
    delivery = InfluxDelivery()
    post = sink._post  # type: ignore[attr-defined]
    acknowledge = sink.acknowledge  # type: ignore[attr-defined]

    def recording(body: bytes) -> None:
        post(body)
        for line in body.decode().split("\n"):
            if line.startswith("reading,") and (m := _READING_SEQ.search(line)):
                delivery.accepted.append(int(m.group(1)))

    def checking(seq: int, count: int) -> None:
        taken = set(delivery.accepted)
        delivery.passed_early.extend(s for s in journal_reading_seqs(running.journal.path, seq) if s not in taken)
        acknowledge(seq, count)

    sink._post = recording  # type: ignore[attr-defined]
    sink.acknowledge = checking  # type: ignore[attr-defined]
    return delivery


async def retained_payload(port: int, topic: str, settle_s: float = 1.0) -> bytes | None:
    """The retained message a new subscriber to ``topic`` gets at once, if any."""
    async with aiomqtt.Client("127.0.0.1", port, timeout=3) as client:
        await client.subscribe(topic, qos=1)
        try:
            async with asyncio.timeout(settle_s):
                async for m in client.messages:
                    if m.retain and str(m.topic) == topic:
                        return bytes(m.payload)  # type: ignore[arg-type]
        except TimeoutError:
            pass
    return None
