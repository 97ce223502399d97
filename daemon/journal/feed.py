"""What the sinks read from the journal: committed rows after a cursor, page by page, and their cursors.

A sink reads through its own read-only connection (in a worker thread, one
thread at a time), and writes its cursor through the journal writer
(:func:`save_cursor`), so the cursor is never ahead of the rows it covers (it is stored
with a delay, writer.py ``CURSOR_PERSIST_S``: a power cut repeats deliveries, never skips one).
The seed reads of the MQTT sink (every rule's latest alarm event, the meters'
last events and readings as of the cursor) go through the same connection, so
a session starts from one consistent journal.
"""

from __future__ import annotations

import sqlite3
import threading
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, overload

from . import times
from .queries import last_reading_times
from .schema import SEQ_TABLES, STORED, connect
from .seek import END_SEQ

if TYPE_CHECKING:
    from .writer import Journal

RECORD_ERROR = "UPDATE sink_cursors SET errors = errors + 1, last_error = ?, last_error_at = ? WHERE sink = ?"


class JournalRow(NamedTuple):
    """One committed journal row as a sink sees it (a tuple: a drain builds a million of them).

    ``data`` is the row with the views' columns (a dict), or, for a table the feed
    reads through a reader of its own (``JournalFeed(readers=...)``), the
    plain tuple that reader's SQL selects.
    """

    table: str
    seq: int
    data: Any


class Reader(NamedTuple):
    """A sink's own SQL for a table (``seq > ? AND seq <= ? ... LIMIT ?``) and the position of seq in its rows.

    ``plain`` is the same read without a LEFT JOIN of the table ``sparse``
    (keyed by seq), for a page with no seq in that table: the join would add
    only NULLs there, and costs a look-up per row.
    """

    sql: str
    seq_at: int = 0
    plain: str | None = None
    sparse: str | None = None


class PageRows(Sequence[JournalRow]):
    """A page's rows when some were read through a sink's own reader: those kept as plain tuples per table.

    A drain reads a million rows; a sink that writes them table by table (the
    InfluxDB sink formats a table's rows in one go) takes ``tuples`` and
    ``others`` and never needs a :class:`JournalRow` for each. As a sequence it
    is every row as a JournalRow, in seq order (built when first needed; the
    first and the last without building the rest).
    """

    def __init__(self, tuples: dict[str, tuple[list[tuple[Any, ...]], int]], others: list[JournalRow]):
        self.tuples = tuples  # table -> (its rows as its reader selects them, in seq order; the seq's position)
        self.others = others  # rows of the other tables, in seq order
        self._len = len(others) + sum(len(rows) for rows, _ in tuples.values())
        self._rows: list[JournalRow] | None = None

    def table_rows(self, table: str) -> list[JournalRow]:
        """The rows of ``table`` read through its own reader, as JournalRows."""
        rows, at = self.tuples[table]
        return [_new_row(JournalRow, (table, r[at], r)) for r in rows]

    def _all(self) -> list[JournalRow]:
        if self._rows is None:
            merged = list(self.others)
            for table in self.tuples:
                merged.extend(self.table_rows(table))
            merged.sort(key=_SEQ)
            self._rows = merged
        return self._rows

    def _end(self, index: int) -> JournalRow:
        """The first (``index`` 0) or last (-1) row."""
        ends = [self.others[index]] if self.others else []
        ends.extend(
            _new_row(JournalRow, (table, rows[index][at], rows[index])) for table, (rows, at) in self.tuples.items()
        )
        return min(ends, key=_SEQ) if index == 0 else max(ends, key=_SEQ)

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> JournalRow: ...
    @overload
    def __getitem__(self, index: slice) -> list[JournalRow]: ...
    def __getitem__(self, index: int | slice) -> JournalRow | list[JournalRow]:
        if self._rows is None and isinstance(index, int) and index in (0, -1, self._len - 1) and self._len:
            return self._end(0 if index == 0 else -1)
        return self._all()[index]

    def __iter__(self) -> Iterator[JournalRow]:
        return iter(self._all())


@dataclass(frozen=True, slots=True)
class FeedPage:
    """One read of the feed: the rows, and how far the cursor may move once they are delivered."""

    rows: Sequence[JournalRow]  # a PageRows when a table was read through a sink's own reader
    upto: int  # the last row's seq, or the highest committed seq when no more rows of ours are below it


class JournalFeed:
    """Reads committed rows after a seq from a few tables, in seq order (read-only, one thread at a time).

    Reads run in worker threads; :meth:`close` (the event loop's, when a sink stops) interrupts a read
    still running and waits for it before closing the connection: closed under a thread still reading
    it, SQLite crashes the process (as the alarms' restore did, daemon/alarms/service.py).

    ``readers`` maps a table to SQL of its own for it (``seq > ? AND seq <= ?
    ... LIMIT ?``, in seq order; a plain string has seq first, a :class:`Reader`
    says where), whose rows are given as plain tuples instead of the views'
    columns; it is used once the table's stored form exists.
    """

    def __init__(self, path: Path, tables: Iterable[str], readers: Mapping[str, str | Reader] | None = None):
        self.path = path
        self.wanted = tuple(tables)
        self.readers = {t: Reader(r) if isinstance(r, str) else r for t, r in (readers or {}).items()}
        self._own: dict[str, Reader] = {}  # the readers usable in this journal
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # held by every read; close() takes it too
        self._closed = False
        self._names: frozenset[str] = frozenset()
        self._schema_version = -1
        self._present: tuple[str, ...] = ()
        self._horizon_sql = ""
        self._bound_sql = ""

    def connection(self) -> sqlite3.Connection:
        """The feed's read-only connection (opened at first use; the feed's thread only)."""
        if self._closed:
            raise sqlite3.ProgrammingError(f"{self.path}: the journal feed is closed")
        if self._conn is None:
            self._conn = connect(self.path, readonly=True)
        return self._conn

    def _refresh(self, conn: sqlite3.Connection) -> None:
        """Which wanted and journal tables exist with a seq, as of the caller's snapshot (migrations add tables)."""
        # The schema cookie changes with every CREATE/ALTER/DROP: one header read per page instead of
        # reading sqlite_master (a page read runs at every commit: 200 a second with 200 meters).
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        if version == self._schema_version:
            return
        self._schema_version = version
        names = frozenset(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"))
        if names == self._names:
            return
        with_seq = {
            t
            for t in dict.fromkeys((*self.wanted, *SEQ_TABLES))
            if t in names and "seq" in {r[1] for r in conn.execute(f"PRAGMA table_info({t})")}
        }
        self._present = tuple(t for t in self.wanted if t in with_seq)
        self._own = {t: r for t, r in self.readers.items() if t in self._present and STORED.get(t) in names}
        # The horizon from the stored tables (a view's MAX(seq) would read every row through its joins).
        stored = {STORED[t] if STORED.get(t) in names else t for t in with_seq}
        parts = " UNION ALL ".join(f"SELECT MAX(seq) AS m FROM {t}" for t in sorted(stored))
        self._horizon_sql = f"SELECT MAX(m) FROM ({parts})" if parts else ""
        # Seqs from the stored tables: the views' joins add nothing to them.
        keys = [STORED[t] if STORED.get(t) in names else t for t in self._present]
        arms = " UNION ALL ".join(f"SELECT seq FROM {t} WHERE seq > ?1" for t in keys)
        self._bound_sql = f"SELECT seq FROM ({arms}) ORDER BY seq LIMIT 1 OFFSET ?2" if len(keys) > 1 else ""
        self._names = names

    def read_page(self, after_seq: int, limit: int, committed_seq: int | None = None) -> FeedPage:
        with self._lock:
            return self._read_page(after_seq, limit, committed_seq)

    def _read_page(self, after_seq: int, limit: int, committed_seq: int | None) -> FeedPage:
        """Up to ``limit`` rows with seq > ``after_seq`` across the tables, ordered by seq, gap-free.

        When these are all the rows of our tables up to the highest committed
        seq of the journal, ``upto`` is that seq: nothing of ours can be
        committed below it later, so the cursor may move there.

        ``committed_seq``, when given, is a seq the journal had committed
        before this call (the commit listener's). When fewer than ``limit``
        seqs follow ``after_seq`` up to it, the read needs neither the page's
        bound nor the horizon query: a sink that keeps up (one row or two per
        commit) reads its tables and nothing else.
        """
        conn = self.connection()
        merged: list[JournalRow] = []  # rows of the tables read through the views
        plain: dict[str, tuple[list[tuple[Any, ...]], int]] = {}  # the others, as their readers select them
        page_end: int | None = None  # rows beyond a table's full page may hide rows of that table
        # Rows committed after ``committed_seq`` may show in the snapshot too: the tables' own LIMIT
        # and the cut below still hold the page to ``limit`` rows in order.
        small = committed_seq is not None and committed_seq - after_seq < limit
        conn.execute("BEGIN")  # one snapshot for every table and the horizon
        try:
            self._refresh(conn)
            bound = None if small else self._bound(conn, after_seq, limit)
            upper = END_SEQ if bound is None else bound
            for table in self._present:
                own = self._own.get(table)
                if own is not None:
                    cursor = conn.cursor()
                    cursor.row_factory = None
                    sql = own.sql
                    if own.plain is not None and not self._any(conn, own.sparse, after_seq, upper):
                        sql = own.plain
                    tuples = cursor.execute(sql, (after_seq, upper, limit)).fetchall()
                    at = own.seq_at
                    if tuples:
                        plain[table] = (tuples, at)
                    last = tuples[-1][at] if len(tuples) == limit else None
                else:
                    query = f"SELECT * FROM {table} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
                    rows = conn.execute(query, (after_seq, upper, limit)).fetchall()
                    merged.extend(JournalRow(table, r["seq"], dict(r)) for r in rows)
                    last = rows[-1]["seq"] if len(rows) == limit else None
                if last is not None:
                    page_end = last if page_end is None else min(page_end, last)
            if bound is not None:  # there are more rows after the bound
                page_end = bound if page_end is None else min(page_end, bound)
            if small:
                horizon = committed_seq  # every seq up to it is committed, so in this snapshot
            else:
                horizon = conn.execute(self._horizon_sql).fetchone()[0] if self._horizon_sql else None
        finally:
            conn.execute("COMMIT")
        merged.sort(key=_SEQ)
        if page_end is not None:
            merged, plain = _cut(merged, plain, page_end)
        count = len(merged) + sum(len(rows) for rows, _ in plain.values())
        if count > limit:  # (only without a bound: rows committed past ``committed_seq`` came too)
            seqs = sorted([r.seq for r in merged] + [r[at] for rows, at in plain.values() for r in rows])
            page_end = seqs[limit - 1]
            merged, plain = _cut(merged, plain, page_end)
        page: Sequence[JournalRow] = PageRows(plain, merged) if plain else merged
        if page_end is not None:
            return FeedPage(page, page_end)
        # (a row read past a ``committed_seq`` horizon: every row of ours up to it is in the page)
        return FeedPage(page, max(after_seq, int(horizon or 0), page[-1].seq if page else 0))

    @staticmethod
    def _any(conn: sqlite3.Connection, table: str | None, after_seq: int, upto: int) -> bool:
        """Whether ``table`` has a row with seq in (``after_seq``, ``upto``] (one primary key look-up)."""
        found = conn.execute(f"SELECT 1 FROM {table} WHERE seq > ? AND seq <= ? LIMIT 1", (after_seq, upto))
        return found.fetchone() is not None

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
        with self._lock:
            row = self.connection().execute("SELECT seq FROM sink_cursors WHERE sink = ?", (sink,)).fetchone()
        return int(row[0]) if row else 0

    def latest_alarm_events(self, upto: int) -> list[dict[str, Any]]:
        """Every (channel, rule)'s latest ``alarm_events`` row with seq <= ``upto``, in seq order."""
        with self._lock:
            conn = self.connection()
            if not conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarm_events'"
            ).fetchone():
                return []
            rows = conn.execute(
                "SELECT * FROM alarm_events WHERE seq IN "
                "(SELECT MAX(seq) FROM alarm_events WHERE seq <= ? GROUP BY channel, rule) ORDER BY seq",
                (upto,),
            ).fetchall()
            return [dict(r) for r in rows]

    def meter_events(self, upto: int) -> list[dict[str, Any]]:
        """(meter, ts, state, detail) of every meter event with seq <= ``upto``, in seq order."""
        with self._lock:
            rows = self.connection().execute(
                "SELECT meter, ts, state, detail FROM meter_events WHERE seq <= ? ORDER BY seq", (upto,)
            )
            return [dict(r) for r in rows]

    def last_reading_times(self, upto: int) -> dict[str, str]:
        """meter -> the time of its latest reading with seq <= ``upto``."""
        with self._lock:
            return last_reading_times(self.connection(), upto)

    def close(self) -> None:
        """Close for good: a read running in a worker thread is interrupted and ended first."""
        self._closed = True
        conn = self._conn
        if conn is None:
            return
        conn.interrupt()  # a read in progress raises "interrupted" at its next step
        with self._lock:
            conn.close()
            self._conn = None


_SEQ = itemgetter(1)
_new_row = tuple.__new__  # JournalRow(table, seq, data) without the Python-level __new__ of a NamedTuple


def _cut(
    merged: list[JournalRow], plain: dict[str, tuple[list[tuple[Any, ...]], int]], page_end: int
) -> tuple[list[JournalRow], dict[str, tuple[list[tuple[Any, ...]], int]]]:
    """The rows with seq <= ``page_end`` (each list in seq order)."""
    kept = merged[: bisect_right(merged, page_end, key=_SEQ)]
    cut = {table: (rows[: bisect_right(rows, page_end, key=itemgetter(at))], at) for table, (rows, at) in plain.items()}
    return kept, {table: found for table, found in cut.items() if found[0]}


def ensure_cursor(journal: Journal, sink: str, seq: int) -> None:
    """Create the sink's cursor row (at ``seq``) if it has none, so errors can be counted against it."""
    journal.execute_now(
        "INSERT OR IGNORE INTO sink_cursors(sink, seq, updated_at) VALUES (?, ?, ?)", (sink, seq, times.now_text())
    )


def save_cursor(journal: Journal, sink: str, seq: int) -> None:
    """Move the sink's cursor to ``seq`` (stored within ``CURSOR_PERSIST_S``, at a flush and at close)."""
    journal.save_cursor(sink, seq)


def record_sink_error(journal: Journal, sink: str, message: str, at: str) -> None:
    """Count one error against the sink's cursor row, with its message and time."""
    journal.execute_now(RECORD_ERROR, (message, at, sink))


def _seq_tables(conn: sqlite3.Connection) -> set[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
    return {
        n for n in names if "seq" in {c[1] for c in conn.execute(f"PRAGMA table_info({n})")} and n != "sink_cursors"
    }


def sink_backlogs(conn: sqlite3.Connection, tables_of: Mapping[str, tuple[str, ...]]) -> dict[str, dict[str, Any]]:
    """Per sink with a cursor: acknowledged seq, rows of its tables (``tables_of[sink]``, else every seq table)
    not yet delivered, the time of the oldest of them, error count and last error."""
    present = _seq_tables(conn)
    cols = {c[1] for c in conn.execute("PRAGMA table_info(sink_cursors)")}
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute("SELECT * FROM sink_cursors ORDER BY sink").fetchall():
        tables = [t for t in tables_of.get(row["sink"], tuple(present)) if t in present]
        backlog, oldest = 0, None
        for t in tables:
            n, first = conn.execute(
                f"SELECT COUNT(*), (SELECT ts FROM {t} WHERE seq > ? ORDER BY seq LIMIT 1) FROM {STORED.get(t, t)}"
                " WHERE seq > ?",
                (row["seq"], row["seq"]),
            ).fetchone()
            backlog += n
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        out[row["sink"]] = {
            "seq": row["seq"],
            "backlog_rows": backlog,
            "oldest_pending_ts": oldest,
            "updated_at": row["updated_at"],
            "errors": row["errors"] if "errors" in cols else 0,
            "last_error": row["last_error"] if "last_error" in cols else "",
            "last_error_at": row["last_error_at"] if "last_error_at" in cols else None,
        }
    return out


def sink_cursors(conn: sqlite3.Connection) -> dict[str, int]:
    """sink -> its acknowledged seq."""
    return {r["sink"]: int(r["seq"]) for r in conn.execute("SELECT sink, seq FROM sink_cursors")}


def lowest_sink_cursor(conn: sqlite3.Connection) -> int | None:
    """The lowest acknowledged seq of any sink (None when no sink has a cursor)."""
    row = conn.execute("SELECT MIN(seq) FROM sink_cursors").fetchone()
    return None if row[0] is None else int(row[0])
