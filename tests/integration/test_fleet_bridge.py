"""Several sites on a central broker, two of them through a local broker bridged over a "WAN" that goes down.

Real mosquitto brokers on loopback: a central one, and a site's local one with
the bridge configuration of docs/fleet.md (read from that file). The WAN is a
TCP relay in front of the central broker that the test cuts and restores.
Three real ``radsurvey run`` daemons on simulated meters: ``clinic-1`` and
``clinic-2`` publish to the local broker (topology 2 of docs/fleet.md),
``clinic-3`` straight to the central broker through the same WAN (topology 1).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fleet_sites import beam_site, bridge_config
from tests.integration.sinks.helpers import MqttRecorder, wait_for
from tests.servers import Mosquitto, free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
RADSURVEY = str(Path(sys.executable).parent / "radsurvey")
BRIDGED = ("clinic-1", "clinic-2")
DIRECT = ("clinic-3",)
SITES = BRIDGED + DIRECT


class Wan:
    """A TCP relay to the central broker that can be cut (every connection dropped, nothing accepted) and restored."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def down(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._server = None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink), name="wan-pipe")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.transport.abort()
            self._writers.discard(sink)


def site_config(site: str, seed: int, work: Path, mqtt_port: int) -> Path:
    cfg = work / "radsurvey.toml"
    mqtt = f"""
[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
keepalive_s = 5
reconnect_initial_s = 0.2
reconnect_max_s = 1.0
connect_timeout_s = 2.0
status_interval_s = 1.0
"""
    site_toml = beam_site(site, seed, work / "journal.sqlite", poll_interval_s=0.2, window_s=0.4)
    cfg.write_text(site_toml + mqtt, encoding="utf-8")
    return cfg


def start_daemon(cfg: Path) -> subprocess.Popen[bytes]:
    with open(cfg.parent / "daemon.log", "wb") as log:
        return subprocess.Popen([RADSURVEY, "run", "--config", str(cfg)], stdout=log, stderr=log)


def journal_rows(work: Path, sql: str) -> list[dict[str, Any]]:
    path = work / "journal.sqlite"
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql)]
    except sqlite3.OperationalError:  # the schema is not created yet
        return []


def journal_sample_seqs(work: Path) -> list[int]:
    return [r["seq"] for r in journal_rows(work, "SELECT seq FROM samples ORDER BY seq")]


def sample_seqs(recorder: MqttRecorder, site: str) -> list[int]:
    """Every sample seq of a site the central broker delivered, in arrival order (duplicates kept)."""
    pattern = re.compile(rf"radsurvey/{re.escape(site)}/channels/[^/]+/sample")
    return [json.loads(m.payload)["seq"] for m in recorder.messages if pattern.fullmatch(m.topic)]


def first_occurrences(seqs: list[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for seq in seqs:
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
    return out


async def retained(port: int, topic: str, expect: int) -> dict[str, bytes]:
    """The retained messages a new subscriber gets for a filter."""
    async with MqttRecorder(port, topic=topic) as fresh:
        await wait_for(lambda: len(fresh.messages) >= expect, 10, f"{expect} retained messages on {topic}")
        assert all(m.retain for m in fresh.messages)
        return {m.topic: m.payload for m in fresh.messages}


async def test_the_central_broker_gets_every_sites_state_and_every_sample_in_order_across_a_wan_outage(
    tmp_path: Path,
) -> None:
    central = Mosquitto(tmp_path / "central")
    wan = Wan(central.port)
    local = Mosquitto(tmp_path / "local", extra_config=bridge_config(wan.port))
    works = {site: tmp_path / site for site in SITES}
    daemons: dict[str, subprocess.Popen[bytes]] = {}
    central.start()
    await wan.up()
    local.start()
    try:
        async with MqttRecorder(central.port, topic="radsurvey/#") as at_centre:
            for seed, site in enumerate(SITES, start=1):
                works[site].mkdir()
                port = local.port if site in BRIDGED else wan.port
                daemons[site] = await asyncio.to_thread(start_daemon, site_config(site, seed, works[site], port))

            def alarms_seen() -> bool:
                return all(at_centre.on(f"{s}/channels/corridor-door/alarm") for s in SITES)

            await wait_for(lambda: all(len(sample_seqs(at_centre, s)) >= 10 for s in SITES), 30, "samples")
            await wait_for(alarms_seen, 20, "an alarm of every site at the centre")

            # The WAN goes down: the sites keep measuring; nothing reaches the centre.
            await wan.down()
            cut = {s: max(journal_sample_seqs(works[s])) for s in SITES}
            await wait_for(
                lambda: all(len([q for q in journal_sample_seqs(works[s]) if q > cut[s]]) >= 15 for s in SITES),
                20,
                "15 samples per site measured during the outage",
            )
            during = {s: max(journal_sample_seqs(works[s])) for s in SITES}
            assert all(max(sample_seqs(at_centre, s)) < during[s] for s in SITES)
            await wan.up()

            # Back: everything measured during the outage arrives, then the sites stop cleanly.
            def outage_delivered() -> bool:
                return all(
                    set(sample_seqs(at_centre, s)) >= {q for q in journal_sample_seqs(works[s]) if q <= during[s]}
                    for s in SITES
                )

            await wait_for(outage_delivered, 30, "the outage's samples at the centre")
            for process in daemons.values():
                process.send_signal(signal.SIGINT)
            for site, process in daemons.items():
                assert await asyncio.to_thread(process.wait, 30) == 0, (works[site] / "daemon.log").read_text()[-2000:]

            def everything_arrived() -> bool:
                return all(set(sample_seqs(at_centre, s)) >= set(journal_sample_seqs(works[s])) for s in SITES)

            await wait_for(everything_arrived, 30, "every journaled sample at the centre")
            await wait_for(
                lambda: all(at_centre.on(f"{s}/status") and at_centre.on(f"{s}/status")[-1].payload == b"offline"
                            for s in SITES),
                15, "offline from every site",
            )  # fmt: skip

        for site in SITES:
            got = sample_seqs(at_centre, site)
            journal = journal_sample_seqs(works[site])
            assert set(got) == set(journal), f"{site}: at least once, nothing else"
            if site in DIRECT:
                assert first_occurrences(got) == journal, f"{site}: in seq order"
                continue
            # Over the bridge: the outage's queue in seq order, and what came after it in seq order. A sample
            # published around the bridge's reconnection once reached the centre before the queue (CI, 1 run
            # in about 6; mosquitto promises order only with max_inflight_messages 1): docs/fleet.md.
            firsts = first_occurrences(got)
            queued = [q for q in journal if q <= during[site]]
            assert [q for q in firsts if q <= during[site]] == queued, f"{site}: the outage's queue in seq order"
            assert [q for q in firsts if q > during[site]] == journal[len(queued) :], f"{site}: after it, in order"

        # The central broker holds every site's retained state, as a dashboard connecting now gets it.
        status = await retained(central.port, "radsurvey/+/status", len(SITES))
        assert status == {f"radsurvey/{s}/status": b"offline" for s in SITES}
        states = await retained(central.port, "radsurvey/+/channels/+/state", len(SITES))
        alarms = await retained(central.port, "radsurvey/+/channels/+/alarm", len(SITES))
        meters = await retained(central.port, "radsurvey/+/meters/+/state", len(SITES))
        for site in SITES:
            state = json.loads(states[f"radsurvey/{site}/channels/corridor-door/state"])
            (row,) = journal_rows(works[site], f"SELECT * FROM samples WHERE seq = {int(state['seq'])}")
            assert state["effective_uSv_h"] == pytest.approx(row["effective_uSv_h"])
            alarm = json.loads(alarms[f"radsurvey/{site}/channels/corridor-door/alarm"])
            last = journal_rows(works[site], "SELECT * FROM alarm_events ORDER BY seq DESC LIMIT 1")[0]
            assert (alarm["seq"], alarm["state"]) == (last["seq"], last["state"])
            assert json.loads(meters[f"radsurvey/{site}/meters/door/state"])["meter"] == "door"
    finally:
        for process in daemons.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        with contextlib.suppress(AssertionError):
            await wan.down()
        local.stop()
        central.stop()
