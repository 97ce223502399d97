"""A sink's replay loop reads each commit at once, while the pages before it still wait to be acknowledged.

The MQTT sink hands a page to its publisher and gets a future that completes
with the page's last PUBACK. A PUBACK that comes late must not hold up the
next commit's rows (benchmarks/README.md, "Latency at 200 meters"), and the
cursor still moves past each page only when its delivery completed, in page
order, also when no further commit comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from radsurvey.daemon.journal import Journal
from radsurvey.daemon.journal.feed import JournalRow
from radsurvey.daemon.sinks.base import CursorSink


class HeldSink(CursorSink):
    """Each page's delivery completes only when the test says so (as a PUBACK would)."""

    def __init__(self) -> None:
        super().__init__(name="held", tables=["readings"], batch_size=100)
        self.pages: list[tuple[list[int], asyncio.Future[None]]] = []
        self.handed = asyncio.Event()

    async def deliver(self, rows: Sequence[JournalRow], _prepared: Any) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pages.append(([r.seq for r in rows], done))
        self.handed.set()
        return done


def reading(journal: Journal, i: int) -> int:
    row = {"ts": f"2026-01-01T00:00:{i:02d}.000Z", "meter": "m", "value": 1.0, "unit": "uGy/h", "quantity": "x"}
    return journal.append("readings", row)


async def until(predicate: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(10):
        while not predicate():  # noqa: ASYNC110 - polls state the pump task and the writer thread own
            await asyncio.sleep(0.005)
    assert predicate(), what


@contextlib.asynccontextmanager
async def pumping(path: Path) -> AsyncIterator[tuple[Journal, HeldSink, asyncio.Future[None]]]:
    """A journal and a sink attached to it, its replay loop running."""
    journal = Journal(path, commit_interval_s=0.01)
    sink = HeldSink()
    await sink.attach(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    pump = asyncio.ensure_future(sink.pump(sink.deliver))
    try:
        yield journal, sink, pump
    finally:
        pump.cancel()
        await asyncio.gather(pump, return_exceptions=True)
        sink.detach()
        journal.close()


async def test_the_next_commit_is_delivered_before_the_previous_page_is_acknowledged(tmp_path: Path) -> None:
    async with pumping(tmp_path / "j.sqlite") as (journal, sink, _pump):
        start = sink.cursor
        first = reading(journal, 1)
        await until(lambda: len(sink.pages) == 1, "the first commit's page")
        second = reading(journal, 2)
        await until(lambda: len(sink.pages) == 2, "the second commit's page, with the first not acknowledged")
        assert [seqs for seqs, _ in sink.pages] == [[first], [second]]
        assert sink.cursor == start  # nothing acknowledged yet: a lost connection replays both

        sink.pages[1][1].set_result(None)  # the second's PUBACK first: the cursor waits for the first
        await asyncio.sleep(0.05)
        assert sink.cursor == start

        sink.pages[0][1].set_result(None)  # no further commit comes: the cursor moves all the same
        await until(lambda: sink.cursor >= second, "the cursor past both pages")
        assert sink.delivered == 2
        assert sink.pending_since_ts is None


async def test_a_failed_delivery_ends_the_loop_while_it_waits_for_commits(tmp_path: Path) -> None:
    async with pumping(tmp_path / "j.sqlite") as (journal, sink, pump):
        start = sink.cursor
        reading(journal, 1)
        await until(lambda: len(sink.pages) == 1, "the page")
        sink.pages[0][1].set_exception(ConnectionError("broker gone"))
        async with asyncio.timeout(10):
            try:
                await pump
            except ConnectionError as err:
                assert str(err) == "broker gone"
            else:
                raise AssertionError("the loop went on after a failed delivery")
        assert sink.cursor == start  # the page is read again after the reconnect
