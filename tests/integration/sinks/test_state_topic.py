"""``channels/{channel}/state``: the latest sample, retained, published live and never from a backlog replay.

After a broker outage with a backlog, a subscriber to the state topics sees
each channel's current value within 2 s of the broker's return, while the
ordered, at-least-once ``sample`` replay is still running. Real mosquitto.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt
import pytest

from tests.servers import Mosquitto

from .helpers import ROOT, make_config, restart_on_same_port, start_daemon, wait_for

pytestmark = pytest.mark.integration


@dataclass
class Timed:
    """Subscribes to the state and sample topics and notes when each message arrived (monotonic)."""

    port: int
    got: list[tuple[float, str, dict[str, object], bool]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client("127.0.0.1", self.port, timeout=2, keepalive=10) as client:
                    await client.subscribe(f"{ROOT}/channels/+/state", qos=1)
                    await client.subscribe(f"{ROOT}/channels/+/sample", qos=1)
                    self.ready.set()
                    async for m in client.messages:
                        payload = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                        self.got.append((time.monotonic(), str(m.topic), payload, bool(m.retain)))
            except aiomqtt.MqttError:
                self.ready.clear()
                await asyncio.sleep(0.05)

    def states(self, channel: str) -> list[tuple[float, int]]:
        return [(t, int(p["seq"])) for t, topic, p, _ in self.got if topic == f"{ROOT}/channels/{channel}/state"]  # type: ignore[call-overload]


def committed_sample_seqs(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {ch: seq for ch, seq in conn.execute("SELECT channel, MAX(seq) FROM samples GROUP BY channel")}
    finally:
        conn.close()


async def test_after_an_outage_the_state_is_current_within_2_s_while_the_sample_replay_still_runs(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    cfg = make_config(
        tmp_path,
        mqtt_port=mosquitto.port,
        meters=3,
        poll_interval_s=0.01,
        mqtt={"batch_size": 5, "reconnect_initial_s": 0.1, "reconnect_max_s": 0.3},
    )
    running = await start_daemon(cfg)
    sink = running.sink("mqtt")
    await wait_for(lambda: sink.connected, 10, "mqtt connection")
    mosquitto.stop()
    await asyncio.sleep(5.0)  # the outage: a backlog of a few thousand rows
    running.journal.flush()
    backlog_top = committed_sample_seqs(cfg.journal.path)  # the newest sample of each channel before the return
    restart_on_same_port(mosquitto)
    returned = time.monotonic()
    watcher = Timed(mosquitto.port)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.ready.wait(), 5)
        await wait_for(lambda: all(watcher.states(ch) for ch in backlog_top), 10, "a state of every channel")
        firsts = {ch: watcher.states(ch)[0] for ch in backlog_top}
        for ch, (t, seq) in firsts.items():
            assert t - returned <= 2.0, f"{ch}: state {t - returned:.2f} s after the broker returned"
            assert seq >= backlog_top[ch], f"{ch}: state seq {seq} is older than the newest sample {backlog_top[ch]}"
        # the replay of the sample stream was still under way when the states arrived
        first_state_at = min(t for t, _ in firsts.values())
        replayed_before = [
            int(p["seq"]) for t, topic, p, _ in watcher.got if topic.endswith("/sample") and t <= first_state_at
        ]  # type: ignore[call-overload]
        assert max(replayed_before, default=0) < min(backlog_top.values()), (
            "the replay had not reached the backlog's end"
        )
        horizon = running.max_reading_seq()
        await wait_for(lambda: sink.cursor >= horizon, 60, "the replay to finish")
        upto = sink.cursor  # what the broker acknowledged; the subscriber gets it a moment later
        conn = sqlite3.connect(f"file:{cfg.journal.path}?mode=ro", uri=True)
        journal = [r[0] for r in conn.execute("SELECT seq FROM samples WHERE seq <= ? ORDER BY seq", (upto,))]
        conn.close()

        def sample_seqs() -> list[int]:
            return [int(p["seq"]) for _, topic, p, _ in watcher.got if topic.endswith("/sample")]  # type: ignore[call-overload]

        await wait_for(lambda: journal[-1] in sample_seqs(), 10, "the subscriber to receive the replay")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await running.stop()
    # the state never went back in time: each channel's state seqs only grow
    for ch in backlog_top:
        seqs = [seq for _, seq in watcher.states(ch)]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # the sample stream stays ordered and complete: every sample after the subscriber came, first arrivals in order
    received = sample_seqs()
    first_arrivals = list(dict.fromkeys(received))
    assert first_arrivals == sorted(first_arrivals), "samples replayed in seq order"
    start = first_arrivals[0]
    assert [s for s in journal if s >= start] == [s for s in first_arrivals if s <= journal[-1]]


async def test_the_state_is_retained_for_a_subscriber_that_comes_later(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from .helpers import retained_payload

    cfg = make_config(tmp_path, mqtt_port=mosquitto.port)
    running = await start_daemon(cfg)
    await wait_for(lambda: running.sink("mqtt").connected, 10, "mqtt connection")
    payload = None
    for _ in range(20):
        payload = await retained_payload(mosquitto.port, f"{ROOT}/channels/ch1/state", settle_s=0.5)
        if payload:
            break
    await running.stop()
    assert payload is not None
    state = json.loads(payload)
    assert state["channel"] == "ch1" and isinstance(state["effective_uSv_h"], float)
    assert state["seq"] <= running.sink("mqtt").committed_seq, "only committed samples are published"
