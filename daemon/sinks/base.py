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
import heapq
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..journal import SEQ_TABLES, STORED, connect, now_iso

if TYPE_CHECKING:
    from ..journal import Journal
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks")

UPSERT_CURSOR = (
    "INSERT INTO sink_cursors(sink, seq, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at"
)
RECORD_ERROR = "UPDATE sink_cursors SET errors = errors + 1, last_error = ?, last_error_at = ? WHERE sink = ?"


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One committed journal row as a sink sees it."""

    table: str
    seq: int
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One read of the feed: the rows, and how far the cursor may move once they are delivered."""

    rows: list[JournalRow]
    upto: int  # the last row's seq, or the highest committed seq when no more rows of ours are below it


class JournalFeed:
    """Reads committed rows after a seq from a few tables, in seq order (read-only, one thread at a time)."""

    def __init__(self, path: Path, tables: Iterable[str]):
        self.path = path
        self.wanted = tuple(tables)
        self._conn: sqlite3.Connection | None = None
        self._names: frozenset[str] = frozenset()
        self._present: tuple[str, ...] = ()
        self._horizon_sql = ""

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def _refresh(self, conn: sqlite3.Connection) -> None:
        """Which wanted and journal tables exist with a seq, as of the caller's snapshot (migrations add tables)."""
        names = frozenset(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"))
        if names == self._names:
            return
        with_seq = {
            t
            for t in dict.fromkeys((*self.wanted, *SEQ_TABLES))
            if t in names and "seq" in {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
        }
        self._present = tuple(t for t in self.wanted if t in with_seq)
        # The horizon from the stored tables (a view's MAX(seq) would read every row through its joins).
        stored = {STORED[t] if STORED.get(t) in names else t for t in with_seq}
        parts = " UNION ALL ".join(f"SELECT MAX(seq) AS m FROM {t}" for t in sorted(stored))
        self._horizon_sql = f"SELECT MAX(m) FROM ({parts})" if parts else ""
        self._names = names

    def read_page(self, after_seq: int, limit: int) -> FeedPage:
        """Up to ``limit`` rows with seq > ``after_seq`` across the tables, ordered by seq, gap-free.

        When these are all the rows of our tables up to the highest committed
        seq of the journal, ``upto`` is that seq: nothing of ours can be
        committed below it later, so the cursor may move there.
        """
        conn = self._connection()
        merged: list[JournalRow] = []
        page_end: int | None = None  # rows beyond a table's full page may hide rows of that table
        conn.execute("BEGIN")  # one snapshot for every table and the horizon
        try:
            self._refresh(conn)
            bound = self._bound(conn, after_seq, limit)
            for table in self._present:
                if bound is None:
                    query, args = f"SELECT * FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
                else:
                    query = f"SELECT * FROM {table} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                    args = (after_seq, bound, limit)
                rows = conn.execute(query, args).fetchall()
                merged.extend(JournalRow(table, r["seq"], dict(r)) for r in rows)
                if len(rows) == limit:
                    last = rows[-1]["seq"]
                    page_end = last if page_end is None else min(page_end, last)
            if bound is not None:  # there are more rows after the bound
                page_end = bound if page_end is None else min(page_end, bound)
            horizon = conn.execute(self._horizon_sql).fetchone()[0] if self._horizon_sql else None
        finally:
            conn.execute("COMMIT")
        merged.sort(key=lambda r: r.seq)
        if page_end is not None:
            merged = [r for r in merged if r.seq <= page_end]
        if len(merged) > limit:
            merged = merged[:limit]
            page_end = merged[-1].seq
        if page_end is not None:
            return FeedPage(merged, page_end)
        return FeedPage(merged, max(after_seq, int(horizon or 0)))

    def _bound(self, conn: sqlite3.Connection, after_seq: int, limit: int) -> int | None:
        """The ``limit``-th smallest seq after ``after_seq`` across the tables, when there are that many.

        Reading only seqs first (the primary key, no columns decoded) keeps a
        page of interleaved tables (readings and samples) from building rows
        that the page would then drop, to be read again for the next one.
        """
        if len(self._present) < 2:
            return None
        seqs: list[int] = []
        for table in self._present:
            seqs.extend(
                r[0]
                for r in conn.execute(f"SELECT seq FROM {table} WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))
            )
        if len(seqs) < limit:
            return None
        return heapq.nsmallest(limit, seqs)[-1]

    def load_cursor(self, sink: str) -> int:
        row = self._connection().execute("SELECT seq FROM sink_cursors WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def checkpoint() -> None:
    """Re-raise a cancellation that a library swallowed.

    Python 3.11's ``asyncio.wait_for`` (used inside aiomqtt) can lose a cancel
    request when its inner future completes at the same moment; the task still
    counts the request, so every loop of ours checks it and stops.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class DeliveryError(Exception):
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
        self._feed = JournalFeed(journal.path, self.tables)
        self.cursor = await asyncio.to_thread(self._feed.load_cursor, self.name)
        self.committed_seq = journal.committed_seq
        # Make sure the cursor row exists, so errors can be counted against it.
        journal.execute_now(
            "INSERT OR IGNORE INTO sink_cursors(sink, seq, updated_at) VALUES (?, ?, ?)",
            (self.name, self.cursor, now_iso()),
        )
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

    async def pump(self, deliver: Callable[[list[JournalRow]], Awaitable[None]]) -> None:
        """Deliver everything after the cursor, then each commit as it happens; returns only by raising."""
        assert self._feed is not None and self._wake is not None and self.journal is not None
        feed, wake = self._feed, self._wake
        while True:
            checkpoint()
            wake.clear()
            page = await asyncio.to_thread(feed.read_page, self.cursor, self.batch_size)
            rows = page.rows
            if rows:
                self.pending_since_ts = rows[0].data.get("ts")
                await deliver(rows)
            if page.upto > self.cursor:  # past rows of tables this sink does not publish, too
                self.acknowledge(page.upto, len(rows))
            if not rows:
                self.pending_since_ts = None
                # The timeout is a safety net only; commits wake us.
                try:
                    await asyncio.wait_for(wake.wait(), timeout=5.0)
                except TimeoutError:
                    pass
                continue
            if len(rows) < self.batch_size and self.flush_interval_s > 0:
                await asyncio.sleep(self.flush_interval_s)

    def acknowledge(self, seq: int, count: int) -> None:
        """Everything up to ``seq`` is delivered: move the cursor (durable at the writer's next commit)."""
        assert self.journal is not None
        self.cursor = seq
        self.delivered += count
        self.journal.execute_now(UPSERT_CURSOR, (self.name, seq, now_iso()))

    def record_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self.last_error_at = now_iso()
        if self.journal is not None:
            self.journal.execute_now(RECORD_ERROR, (message, self.last_error_at, self.name))

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


class Backoff:
    """Reconnect/retry delay: doubles from ``initial_s`` up to ``max_s``; :meth:`reset` after a success."""

    def __init__(self, initial_s: float, max_s: float):
        self.initial_s = initial_s
        self.max_s = max_s
        self.next_s = initial_s

    def reset(self) -> None:
        self.next_s = self.initial_s

    def take(self) -> float:
        delay = self.next_s
        self.next_s = min(self.next_s * 2, self.max_s)
        return delay
