"""A stop reaches the MQTT sink's live-state loop even when a publish swallowed the cancel.

Python 3.11's ``asyncio.wait_for``, inside aiomqtt's ``publish``, can lose a cancel request when
the awaited future completes at the same moment: the call returns normally while the task still
counts the request (``Task.cancelling()``). The state loop then waited for the next commit with no
timeout, and ``radsurvey run`` hung at shutdown (seen in benchmark runs with both sinks). The race is
not reproducible on demand with a real broker, so the publish below swallows the cancel the way
``wait_for`` does, every time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from radsurvey.config import parse_config
from radsurvey.daemon.sinks.mqtt import MqttSink


class SwallowingClient:
    """Publishes nothing; a cancel that arrives during a publish is swallowed, as ``wait_for`` can."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.in_publish = asyncio.Event()

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool) -> None:
        self.published.append(topic)
        self.in_publish.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return  # lost: the task still counts the request, nothing re-raises it


def sink(tmp: Path) -> MqttSink:
    cfg = parse_config(
        {
            "site": {"id": "site-1"},
            "journal": {"path": str(tmp / "j.sqlite")},
            "meters": [{"id": "m", "driver": "simulated"}],
            "channels": [{"id": "c", "meter": "m", "room_category": 1}],
            "mqtt": {"host": "127.0.0.1"},
        },
        environ={},
    )
    return MqttSink(cfg, cfg.mqtt)  # type: ignore[arg-type]


async def test_state_loop_stops_when_its_publish_swallowed_the_cancel(tmp_path: Path) -> None:
    s = sink(tmp_path)
    s._state_wake = asyncio.Event()
    s._live["c"] = {"seq": 5, "channel": "c"}
    s.committed_seq = 5
    s.due_states = lambda committed: [("radsurvey/site-1/channels/c/state", b"{}")]  # type: ignore[method-assign]
    client = SwallowingClient()
    task = asyncio.create_task(s._state_loop(client))  # type: ignore[arg-type]
    await asyncio.wait_for(client.in_publish.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert done == {task}, "the state loop waited for a commit after its stop was requested"
    assert task.cancelled()
    assert client.published == ["radsurvey/site-1/channels/c/state"]
