"""On SIGTERM the sinks get a bounded time to publish what is committed (issue 12 §5), against real mosquitto."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import aiomqtt
import pytest

from radsurvey.daemon import journal as jr
from tests.e2e.conftest import radsurvey_bin
from tests.servers import Mosquitto

pytestmark = pytest.mark.e2e

CONFIG = """
[site]
id = "drain"
[journal]
path = "{journal}"
commit_interval_s = 0.5      # a whole batch is still uncommitted when SIGTERM arrives
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.005
[[channels]]
id = "desk"
meter = "sim"
room_category = 1
averaging_window_s = 0.05
[mqtt]
port = {port}
publish_readings = false
[shutdown]
drain_s = {drain}
"""


def committed(journal: Path) -> tuple[int, int, int]:
    """(highest sample seq, highest seq of any row, the mqtt sink's cursor)."""
    with jr.reader(journal) as conn:
        sample = conn.execute("SELECT MAX(seq) FROM samples").fetchone()[0]
        cursor = conn.execute("SELECT seq FROM sink_cursors WHERE sink = 'mqtt'").fetchone()[0]
    return int(sample), jr.max_seq(jr.connect(journal, readonly=True)), int(cursor)


async def run_and_stop(tmp_path: Path, port: int, drain: float, *, after_s: float) -> tuple[int, float, str]:
    journal = tmp_path / "j.sqlite"
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG.format(journal=journal, port=port, drain=drain))
    log = tmp_path / "daemon.log"
    with open(log, "wb") as err:  # noqa: ASYNC230 (opened once, handed to the child)
        proc = await asyncio.create_subprocess_exec(
            radsurvey_bin(),
            "run",
            "--config",
            str(cfg),
            "--json",
            "--log-json",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
    await asyncio.sleep(after_s)
    assert proc.returncode is None, log.read_text()[-2000:]
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc = await asyncio.wait_for(proc.wait(), 30)
    return rc, time.monotonic() - t0, log.read_text()


async def test_a_clean_stop_publishes_everything_committed(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto")
    broker.start()
    received: list[int] = []
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, timeout=10) as sub:
            await sub.subscribe("radsurvey/drain/channels/desk/sample", qos=1)

            async def collect() -> None:
                async for message in sub.messages:
                    received.append(json.loads(bytes(message.payload))["seq"])  # type: ignore[arg-type]

            collector = asyncio.create_task(collect())
            rc, stop_s, log = await run_and_stop(tmp_path, broker.port, 3.0, after_s=3.0)
            await asyncio.sleep(1.0)  # let the last PUBACKed messages reach the subscriber
            collector.cancel()
    finally:
        broker.stop()
    assert rc == 0, log[-3000:]
    last_sample, top, cursor = committed(tmp_path / "j.sqlite")
    assert received and max(received) == last_sample  # the very last committed sample reached the broker
    assert cursor == top  # and the sink's cursor says so, durably
    drained = [json.loads(x) for x in log.splitlines() if '"sinks drained"' in x]
    assert drained and drained[0]["committed_seq"] == top
    assert stop_s < 3.0 + 2.0


async def test_a_sink_that_is_not_connected_does_not_hold_the_stop(tmp_path: Path) -> None:
    from tests.servers import free_port

    rc, stop_s, log = await run_and_stop(tmp_path, free_port(), 3.0, after_s=2.0)  # no broker there
    assert rc == 0, log[-3000:]
    assert stop_s < 2.0, f"stop took {stop_s:.2f} s"
    drained = [json.loads(x) for x in log.splitlines() if '"sinks drained"' in x]
    assert drained and drained[0]["not_connected"] == ["mqtt"]
    # Never reached, so never "lost".
    assert "mqtt connection lost" not in log and "mqtt connection failed; retrying" in log
