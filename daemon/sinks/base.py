"""The sink framework: each sink replays the journal from its own durable cursor.

A sink never sees the event loop's data path. It is woken by the journal's
commit listener, reads committed rows (seq > cursor) through its own read-only
SQLite connection in a worker thread, delivers them, and only then acknowledges
the last seq through the journal writer (``sink_cursors``), so the cursor is as
durable as the data. After an outage, a network loss or a restart it carries on
from the cursor: at-least-once, with ``seq`` for de-duplication. Sinks share
nothing but the journal, so a dead sink never delays another, and acquisition
never waits on any of them.

A sink reads only its own tables, but its cursor follows the whole journal:
when a read finds nothing more of its tables up to the highest committed seq
(of any table, in the same snapshot), the cursor moves to that seq. Rows a sink
does not publish (meter events for InfluxDB, readings when MQTT is told not to
publish them) therefore never hold its cursor, its backlog or retention back.
This is sound because the journal commits seqs in order (journal.py, append):
once seq N is committed, no row with a lower seq can appear later.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.protocols.errors import SinkError

from ..journal import ReadError, now_iso
from ..journal.feed import FeedPage, JournalFeed, JournalRow, Reader, ensure_cursor, record_sink_error, save_cursor

if TYPE_CHECKING:
    from ..journal import Journal
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks")


def checkpoint() -> None:
    """Re-raise a cancellation that a library swallowed.

    Python 3.11's ``asyncio.wait_for`` (used inside aiomqtt) can lose a cancel
    request when its inner future completes at the same moment; the task still
    counts the request, so every loop of ours checks it at its top and again
    before any wait that has no timeout (else a stop would wait there for good).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class DeliveryError(SinkError):
    """A batch was not delivered; the sink retries it after a backoff. The message is safe to log."""


def utc_age_s(ts: str) -> float:
    try:
        return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(ts)).total_seconds())
    except ValueError:
        return 0.0


class CursorSink:
    """Base of every sink: the cursor, the wake-up, the replay loop, counters.

    Subclasses implement :meth:`run` as their connection loop and call
    :meth:`pump` with a ``deliver(rows)`` coroutine while they can deliver;
    ``deliver`` raises (e.g. :class:`DeliveryError`) when it could not.
    """

    name = "sink"
    readers: dict[str, str | Reader] = {}  # noqa: RUF012 - table -> the SQL of its own a sink reads it with (JournalFeed)

    def __init__(self, *, name: str, tables: Iterable[str], batch_size: int, flush_interval_s: float = 0.0):
        self.name = name
        self.tables = tuple(tables)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.cursor = 0
        self.committed_seq = 0
        self.delivered = 0
        self.errors = 0
        self.last_error = ""
        self.last_error_at: str | None = None
        self.connected = False
        self.pending_since_ts: str | None = None
        self.journal: Journal | None = None
        self._wake: asyncio.Event | None = None
        self._feed: JournalFeed | None = None

    # -- set-up -----------------------------------------------------------------------

    async def attach(self, daemon: Daemon) -> None:
        """Open the feed, load the cursor and subscribe to commits."""
        journal = daemon.journal
        self.journal = journal
        self._feed = JournalFeed(journal.path, self.tables, self.readers)
        self.cursor = await asyncio.to_thread(self._feed.load_cursor, self.name)
        self.committed_seq = journal.committed_seq
        # Make sure the cursor row exists, so errors can be counted against it.
        ensure_cursor(journal, self.name, self.cursor)
        loop = asyncio.get_running_loop()
        wake = self._wake = asyncio.Event()

        def on_commit(seq: int) -> None:  # journal writer thread
            self.committed_seq = seq
            if self._wake is wake and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(wake.set)
                except RuntimeError:  # loop closing
                    pass

        journal.add_commit_listener(on_commit)
        log.info("sink attached", sink=self.name, cursor=self.cursor, committed_seq=self.committed_seq)

    def detach(self) -> None:
        self._wake = None
        if self._feed is not None:
            self._feed.close()

    # -- the replay loop -------------------------------------------------------------------

    # Read the next page while the current one is delivered (a drain after an outage: the read and
    # the server's work overlap). Off by default: a sink whose delivery changes what the next read
    # returns must not read ahead of it.
    read_ahead = False

    def row_time(self, row: JournalRow) -> str | None:
        """The row's time as the journal writes it (ISO, ``Z``), for the status's ``lag_s``."""
        return row.data.get("ts") if isinstance(row.data, dict) else None

    def prepare(self, rows: Sequence[JournalRow]) -> Any:
        """Work on a page in the reader's thread, before it is delivered (InfluxDB: its line protocol)."""
        return None

    def _read(self, after_seq: int) -> tuple[FeedPage, Any]:
        assert self._feed is not None
        try:
            page = self._feed.read_page(after_seq, self.batch_size, self.committed_seq)
        except ReadError as err:
            # A damaged page: the daemon sets the journal aside and goes on in a fresh one (cli/run.py); the
            # sink retries meanwhile, as after any failed read.
            if self.journal is not None:
                self.journal.report_if_corrupt(err)
            raise
        return page, (self.prepare(page.rows) if page.rows else None)

    async def pump(self, deliver: Callable[[Sequence[JournalRow], Any], Awaitable[Awaitable[None] | None]]) -> None:
        """Deliver everything after the cursor, then each commit as it happens; returns only by raising.

        ``deliver(rows, prepared)`` (``prepared``: what :meth:`prepare` made of
        them in the reader's thread) either delivers (returns None) or hands the rows on
        and returns an awaitable that completes once they are delivered (the
        MQTT sink's publishes in flight); the cursor then moves past them when
        it completes, in page order, while the next pages are read and handed on.
        """
        assert self._feed is not None and self._wake is not None and self.journal is not None
        wake = self._wake
        ahead: asyncio.Task[tuple[FeedPage, Any]] | None = None
        unacked: deque[tuple[Awaitable[None] | None, int, int]] = deque()  # (delivered when done, upto, rows)
        read_to = self.cursor  # the end of the last page read (the cursor trails it by the pages in flight)
        try:
            while True:
                checkpoint()
                self._acknowledge_done(unacked)
                if ahead is None:
                    wake.clear()
                    page, prepared = await asyncio.to_thread(self._read, read_to)
                else:
                    (page, prepared), ahead = await ahead, None
                rows = page.rows
                pending: Awaitable[None] | None = None
                if rows:
                    if not unacked:
                        self.pending_since_ts = self.row_time(rows[0])
                    if self.read_ahead and len(rows) == self.batch_size:  # a full page: more is likely waiting
                        wake.clear()
                        ahead = asyncio.create_task(asyncio.to_thread(self._read, page.upto))
                    pending = await deliver(rows, prepared)
                    if isinstance(pending, asyncio.Future):
                        pending.add_done_callback(lambda _done: wake.set())  # the idle wait below moves the cursor
                if page.upto > read_to:  # past rows of tables this sink does not publish, too
                    read_to = page.upto
                    if pending is None and not unacked:
                        self.acknowledge(page.upto, len(rows))
                    else:
                        unacked.append((pending, page.upto, len(rows)))
                if not rows:
                    await self._await_commit(wake, unacked, read_to)
                    continue
                if ahead is None and len(rows) < self.batch_size and self.flush_interval_s > 0:
                    await self._acknowledge_all(unacked)  # a partial page: delivered, then a fuller one waited for
                    await asyncio.sleep(self.flush_interval_s)
        finally:
            if ahead is not None:
                # The read's thread runs to its end either way: wait for it, so that a retry never
                # has two reads on the feed's one connection at once.
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: a failed read-ahead is read again after the retry
            for done, _, _ in unacked:  # not delivered: read again from the cursor after the retry
                if isinstance(done, asyncio.Future) and done.done() and not done.cancelled():
                    done.exception()

    async def _await_commit(
        self, wake: asyncio.Event, unacked: deque[tuple[Awaitable[None] | None, int, int]], read_to: int
    ) -> None:
        """Wait for a commit past ``read_to``, moving the cursor as the pages handed on are delivered meanwhile.

        Commits wake us; one that added no row (a cursor update of ours or the
        other sink's) has nothing to read. A delivery that completes wakes us
        too (its done callback, in :meth:`pump`), so the cursor follows the
        acknowledgements; but the next commit is read at once, without waiting
        for them: a PUBACK that comes late (up to 50-60 ms at 200 meters)
        must not hold up the messages after it (benchmarks/README.md, "Latency
        at 200 meters"). The timeout is a safety net only.
        """
        if any(done is not None and not isinstance(done, asyncio.Future) for done, _, _ in unacked):
            await self._acknowledge_all(unacked)  # (a sink whose deliveries do not say when they complete)
        try:
            async with asyncio.timeout(5.0):
                while True:
                    checkpoint()
                    self._acknowledge_done(unacked)
                    if not unacked:
                        self.pending_since_ts = None
                    if self.committed_seq > read_to:
                        return
                    wake.clear()
                    await wake.wait()
        except TimeoutError:
            pass

    async def _acknowledge_all(self, unacked: deque[tuple[Awaitable[None] | None, int, int]]) -> None:
        """Wait for every page handed on to be delivered, moving the cursor past each in turn."""
        while unacked:
            done, upto, count = unacked.popleft()
            if done is not None:
                await done
            self.acknowledge(upto, count)

    def _acknowledge_done(self, unacked: deque[tuple[Awaitable[None] | None, int, int]]) -> None:
        """Move the cursor past the pages whose delivery completed, oldest first; raise the first failure."""
        while unacked:
            done, upto, count = unacked[0]
            if done is not None:
                if not isinstance(done, asyncio.Future) or not done.done():
                    return
                done.result()  # raises what the delivery failed with
            unacked.popleft()
            self.acknowledge(upto, count)

    def acknowledge(self, seq: int, count: int) -> None:
        """Everything up to ``seq`` is delivered: move the cursor (durable at the writer's next commit)."""
        assert self.journal is not None
        self.cursor = seq
        self.delivered += count
        save_cursor(self.journal, self.name, seq)

    def record_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self.last_error_at = now_iso()
        if self.journal is not None:
            record_sink_error(self.journal, self.name, message, self.last_error_at)

    # -- status ---------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        backlog = max(0, self.committed_seq - self.cursor)
        return {
            "sink": self.name,
            "connected": self.connected,
            "cursor_seq": self.cursor,
            "committed_seq": self.committed_seq,
            "backlog": backlog,
            "lag_s": round(utc_age_s(self.pending_since_ts), 3) if backlog and self.pending_since_ts else 0.0,
            "delivered": self.delivered,
            "errors": self.errors,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
        }

    async def run(self, daemon: Daemon) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
