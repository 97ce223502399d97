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
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from radsurvey.protocols.errors import SinkError

from ..journal import SEQ_TABLES, STORED, connect, now_iso

if TYPE_CHECKING:
    from ..journal import Journal
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.sinks")

END_SEQ = (1 << 63) - 1  # above every seq: a page bound that bounds nothing

UPSERT_CURSOR = (
    "INSERT INTO sink_cursors(sink, seq, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at"
)
RECORD_ERROR = "UPDATE sink_cursors SET errors = errors + 1, last_error = ?, last_error_at = ? WHERE sink = ?"


class JournalRow(NamedTuple):
    """One committed journal row as a sink sees it (a tuple: a drain builds a million of them).

    ``data`` is the row with 0.1's columns (a dict), or, for a table the feed
    reads through a reader of its own (``JournalFeed(readers=...)``), the
    plain tuple that reader's SQL selects.
    """

    table: str
    seq: int
    data: Any


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One read of the feed: the rows, and how far the cursor may move once they are delivered."""

    rows: list[JournalRow]
    upto: int  # the last row's seq, or the highest committed seq when no more rows of ours are below it


class JournalFeed:
    """Reads committed rows after a seq from a few tables, in seq order (read-only, one thread at a time).

    ``readers`` maps a table to SQL of its own for it (``seq > ? AND seq <= ?
    ... LIMIT ?``, seq first), whose rows are given as plain tuples instead of
    0.1's columns; it is used once the table's stored form exists.
    """

    def __init__(self, path: Path, tables: Iterable[str], readers: dict[str, str] | None = None):
        self.path = path
        self.wanted = tuple(tables)
        self.readers = dict(readers or {})
        self._own: dict[str, str] = {}  # the readers usable in this journal
        self._conn: sqlite3.Connection | None = None
        self._names: frozenset[str] = frozenset()
        self._present: tuple[str, ...] = ()
        self._horizon_sql = ""
        self._bound_sql = ""

    def connection(self) -> sqlite3.Connection:
        """The feed's read-only connection (opened at first use; the feed's thread only)."""
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
        self._own = {t: sql for t, sql in self.readers.items() if t in self._present and STORED.get(t) in names}
        # The horizon from the stored tables (a view's MAX(seq) would read every row through its joins).
        stored = {STORED[t] if STORED.get(t) in names else t for t in with_seq}
        parts = " UNION ALL ".join(f"SELECT MAX(seq) AS m FROM {t}" for t in sorted(stored))
        self._horizon_sql = f"SELECT MAX(m) FROM ({parts})" if parts else ""
        # Seqs from the stored tables: the views' joins add nothing to them.
        keys = [STORED[t] if STORED.get(t) in names else t for t in self._present]
        arms = " UNION ALL ".join(f"SELECT seq FROM {t} WHERE seq > ?1" for t in keys)
        self._bound_sql = f"SELECT seq FROM ({arms}) ORDER BY seq LIMIT 1 OFFSET ?2" if len(keys) > 1 else ""
        self._names = names

    def read_page(self, after_seq: int, limit: int) -> FeedPage:
        """Up to ``limit`` rows with seq > ``after_seq`` across the tables, ordered by seq, gap-free.

        When these are all the rows of our tables up to the highest committed
        seq of the journal, ``upto`` is that seq: nothing of ours can be
        committed below it later, so the cursor may move there.
        """
        conn = self.connection()
        merged: list[JournalRow] = []
        page_end: int | None = None  # rows beyond a table's full page may hide rows of that table
        conn.execute("BEGIN")  # one snapshot for every table and the horizon
        try:
            self._refresh(conn)
            bound = self._bound(conn, after_seq, limit)
            upper = END_SEQ if bound is None else bound
            for table in self._present:
                own = self._own.get(table)
                if own is not None:
                    cursor = conn.cursor()
                    cursor.row_factory = None
                    tuples = cursor.execute(own, (after_seq, upper, limit)).fetchall()
                    merged.extend([_new_row(JournalRow, (table, r[0], r)) for r in tuples])
                    last = tuples[-1][0] if len(tuples) == limit else None
                else:
                    query = f"SELECT * FROM {table} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                    rows = conn.execute(query, (after_seq, upper, limit)).fetchall()
                    merged.extend(JournalRow(table, r["seq"], dict(r)) for r in rows)
                    last = rows[-1]["seq"] if len(rows) == limit else None
                if last is not None:
                    page_end = last if page_end is None else min(page_end, last)
            if bound is not None:  # there are more rows after the bound
                page_end = bound if page_end is None else min(page_end, bound)
            horizon = conn.execute(self._horizon_sql).fetchone()[0] if self._horizon_sql else None
        finally:
            conn.execute("COMMIT")
        merged.sort(key=_SEQ)
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

        Finding it first keeps a page of interleaved tables (readings and
        samples) from building rows that the page would then drop, to be read
        again for the next one. One statement: SQLite merges the tables' seq
        keys in order and stops at the ``limit``-th, without decoding a row.
        """
        if not self._bound_sql:
            return None
        found = conn.execute(self._bound_sql, (after_seq, limit - 1)).fetchone()
        return None if found is None else int(found[0])

    def load_cursor(self, sink: str) -> int:
        row = self.connection().execute("SELECT seq FROM sink_cursors WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


_SEQ = itemgetter(1)
_new_row = tuple.__new__  # JournalRow(table, seq, data) without the Python-level __new__ of a NamedTuple


def checkpoint() -> None:
    """Re-raise a cancellation that a library swallowed.

    Python 3.11's ``asyncio.wait_for`` (used inside aiomqtt) can lose a cancel
    request when its inner future completes at the same moment; the task still
    counts the request, so every loop of ours checks it and stops.
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
    readers: dict[str, str] = {}  # noqa: RUF012 - table -> the SQL of its own a sink reads it with (JournalFeed)

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

    # Read the next page while the current one is delivered (a drain after an outage: the read and
    # the server's work overlap). Off by default: a sink whose delivery changes what the next read
    # returns must not read ahead of it.
    read_ahead = False

    def row_time(self, row: JournalRow) -> str | None:
        """The row's time as the journal writes it (ISO, ``Z``), for the status's ``lag_s``."""
        return row.data.get("ts") if isinstance(row.data, dict) else None

    def prepare(self, rows: list[JournalRow]) -> Any:
        """Work on a page in the reader's thread, before it is delivered (InfluxDB: its line protocol)."""
        return None

    def _read(self, after_seq: int) -> tuple[FeedPage, Any]:
        assert self._feed is not None
        page = self._feed.read_page(after_seq, self.batch_size)
        return page, (self.prepare(page.rows) if page.rows else None)

    async def pump(self, deliver: Callable[[list[JournalRow], Any], Awaitable[Awaitable[None] | None]]) -> None:
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
                if page.upto > read_to:  # past rows of tables this sink does not publish, too
                    read_to = page.upto
                    if pending is None and not unacked:
                        self.acknowledge(page.upto, len(rows))
                    else:
                        unacked.append((pending, page.upto, len(rows)))
                if not rows:
                    while unacked:  # everything handed on is delivered before we wait for commits
                        done, upto, count = unacked.popleft()
                        if done is not None:
                            await done
                        self.acknowledge(upto, count)
                    self.pending_since_ts = None
                    # The timeout is a safety net only; commits wake us.
                    try:
                        await asyncio.wait_for(wake.wait(), timeout=5.0)
                    except TimeoutError:
                        pass
                    continue
                if ahead is None and not unacked and len(rows) < self.batch_size and self.flush_interval_s > 0:
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
