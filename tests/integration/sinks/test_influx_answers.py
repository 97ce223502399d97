"""What the InfluxDB sink does with each answer of the write API, against a real HTTP peer.

VictoriaMetrics accepts nearly anything, so these tests use ``InfluxPeer``
(tests/servers.py): an HTTP server answering like InfluxDB (400/413/422/503
with InfluxDB's JSON error body), which also shows what the sink sent.
"""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.servers import InfluxPeer, PeerRequest

from .helpers import RunningDaemon, journal_reading_seqs, make_config, start_daemon, wait_for

pytestmark = pytest.mark.integration

SEQ = re.compile(r"(?:^|[ ,])seq=(\d+)i")


def reading_seqs(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if line.startswith("reading,") and (m := SEQ.search(line))]


async def run_against(tmp_path: Path, peer: InfluxPeer, **influxdb: object) -> RunningDaemon:
    cfg = make_config(tmp_path, influx_url=peer.url, influxdb={"batch_size": 50, **influxdb})
    return await start_daemon(cfg)


async def caught_up(running: RunningDaemon, timeout_s: float = 15) -> int:
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("influxdb").cursor >= horizon, timeout_s, f"influxdb to reach seq {horizon}")
    return horizon


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, 'partial write: field type conflict: input field "seq" on measurement "reading" is type float dropped=1'),
        (422, "failure writing points to database: partial write: points beyond retention policy dropped=50"),
    ],
)
async def test_a_refused_batch_is_recorded_once_and_the_cursor_moves_on(
    tmp_path: Path, influx_peer: InfluxPeer, status: int, message: str
) -> None:
    refusing = threading.Event()
    refusing.set()
    refused_upto = [0]  # the highest reading seq refused
    answering = threading.Lock()  # (the peer may answer two requests at once)

    def answer(request: PeerRequest) -> tuple[int, str]:
        # Two pages may be in flight and reach the server in either order: a page below one already
        # refused is refused too, so that the episode ends at one page, in page order.
        with answering:
            seqs = reading_seqs(request.lines) or [refused_upto[0] + 1]
            if refusing.is_set() or min(seqs) <= refused_upto[0]:
                refused_upto[0] = max(refused_upto[0], *seqs)
                return status, message
            return 204, ""

    influx_peer.answer = answer
    with capture_logs() as logs:
        running = await run_against(tmp_path, influx_peer)
        sink = running.sink("influxdb")
        await wait_for(lambda: sink.status()["refused_writes"] >= 3, 15, "several refused batches")
        await caught_up(running)  # the cursor does not wait for the refused points
        refused = sink.status()
        refusing.clear()
        await wait_for(lambda: len(influx_peer.accepted_lines()) > 0, 10, "points accepted again")
        horizon = await caught_up(running)
        await running.stop()
    assert refused["errors"] >= 3 and refused["backlog"] < 200
    assert refused["last_error"].startswith(f"HTTP {status} from {influx_peer.url}: ")
    assert "dropped=" in refused["last_error"] and "kept in the journal" in refused["last_error"]
    warnings = [e for e in logs if e["log_level"] == "warning" and e["event"].startswith("influxdb refused")]
    assert len(warnings) == 1, "logged once per episode"
    assert any(e["event"] == "influxdb accepts points again" for e in logs)
    sent = [s for r in influx_peer.requests for s in reading_seqs(r.lines)]
    assert len(sent) == len(set(sent)), "a refused batch is never sent again"
    assert max(sent) >= horizon - 5


async def test_a_body_too_large_is_split_until_the_server_takes_it(tmp_path: Path, influx_peer: InfluxPeer) -> None:
    influx_peer.answer = lambda request: (413, "request too large") if len(request.lines) > 8 else (204, "")
    running = await run_against(tmp_path, influx_peer, flush_interval_s=1.0)  # batches of about 40 points
    await asyncio.sleep(2.0)
    horizon = await caught_up(running)
    sink = running.sink("influxdb").status()
    await running.stop()
    accepted = set(reading_seqs(influx_peer.accepted_lines()))
    expected = journal_reading_seqs(running.journal.path, horizon)
    assert len(expected) >= 20 and set(expected) <= accepted, "every reading written, none lost to the split"
    assert all(len(r.lines) <= 8 for r in influx_peer.requests if r.status == 204)
    assert any(r.status == 413 for r in influx_peer.requests)
    assert sink["refused_writes"] == 0


async def test_an_unavailable_server_gets_the_same_batch_again_after_a_backoff(
    tmp_path: Path, influx_peer: InfluxPeer
) -> None:
    failures = {"left": 3}

    def answer(request: PeerRequest) -> tuple[int, str]:
        if failures["left"] > 0:
            failures["left"] -= 1
            return 503, "service unavailable: the server is starting"
        return 204, ""

    influx_peer.answer = answer
    running = await run_against(tmp_path, influx_peer)
    await wait_for(lambda: running.sink("influxdb").errors >= 3, 15, "three failed writes")
    horizon = await caught_up(running)
    sink = running.sink("influxdb").status()
    await running.stop()
    statuses = [r.status for r in influx_peer.requests]
    assert statuses[:3] == [503] * 3 and set(statuses[3:]) == {204}, "refused three times, then taken"
    # Two pages may be in flight at once, so the next page can reach the server before a retried one.
    sent = [(r.status, min(reading_seqs(r.lines))) for r in influx_peer.requests if reading_seqs(r.lines)]
    for i, (status, first) in enumerate(sent):
        if status == 503:
            assert (204, first) in sent[i + 1 :], "a batch refused with 503 is sent again, and taken"
    assert "HTTP 503" in sink["last_error"] and sink["refused_writes"] == 0
    assert set(journal_reading_seqs(running.journal.path, horizon)) <= set(reading_seqs(influx_peer.accepted_lines()))


async def test_line_protocol_is_built_off_the_event_loop(tmp_path: Path, influx_peer: InfluxPeer) -> None:
    running = await run_against(tmp_path, influx_peer)
    sink = running.sink("influxdb")
    built_on: list[str] = []
    build = sink.prepare  # type: ignore[attr-defined]

    def recording(rows: list) -> tuple[int, bytes]:  # the real method (a page's lines), noting its thread
        built_on.append(threading.current_thread().name)
        return build(rows)

    sink.prepare = recording  # type: ignore[attr-defined]
    await asyncio.sleep(1.0)
    await caught_up(running)
    await running.stop()
    loop_thread = threading.main_thread().name
    assert built_on and loop_thread not in built_on, f"lines built on the event loop's thread: {built_on[:5]}"
