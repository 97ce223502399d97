"""The journal: SQLite (WAL), the single source of truth.

Every reading, sample and meter event gets a journal-wide monotonic ``seq`` and
is committed before anything is published; sinks replay from their cursor
(DESIGN.md §3). Writes go through one writer thread so that a slow fsync never
blocks acquisition: callers append rows (cheap, thread-safe) and the thread
commits them in batches every ``commit_interval_s`` or ``batch_size`` rows.
A failed commit is retried with the same rows; nothing is dropped.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from radsurvey.protocols.errors import JournalError

from . import journal_spill as spill

log = structlog.get_logger("radsurvey.journal")

# (version, description, SQL). Append only; never edit a released migration.
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "readings, samples, meter events, runs, sink cursors",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            stopped_at TEXT,
            clean INTEGER NOT NULL DEFAULT 0,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE readings (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            meter TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            quantity TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT '[]',
            raw BLOB NOT NULL DEFAULT x'',
            conversions TEXT NOT NULL DEFAULT '[]',
            meter_value REAL
        );
        CREATE INDEX readings_meter_seq ON readings(meter, seq);
        CREATE TABLE samples (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            channel TEXT NOT NULL,
            meter TEXT NOT NULL,
            reading_seq INTEGER NOT NULL,
            room_category INTEGER NOT NULL,
            value_uGy_h REAL NOT NULL,
            mean_uGy_h REAL NOT NULL,
            window_n INTEGER NOT NULL,
            background_uGy_h REAL NOT NULL,
            net_uGy_h REAL NOT NULL,
            below_background INTEGER NOT NULL,
            normalised_uGy_h REAL,
            effective_uSv_h REAL NOT NULL,
            limit_uSv_h REAL NOT NULL,
            ratio REAL NOT NULL,
            formula TEXT NOT NULL,
            corrections TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX samples_channel_seq ON samples(channel, seq);
        CREATE TABLE meter_events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            meter TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE sink_cursors (
            sink TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "sink delivery errors beside each sink cursor",
        """
        ALTER TABLE sink_cursors ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sink_cursors ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
        ALTER TABLE sink_cursors ADD COLUMN last_error_at TEXT
        """,
    ),
    (
        3,
        "alarm events, acknowledgement requests, alarm rule state",
        """
        CREATE TABLE alarm_events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            channel TEXT NOT NULL,
            rule TEXT NOT NULL,
            kind TEXT NOT NULL,
            event TEXT NOT NULL,
            state TEXT NOT NULL,
            previous TEXT NOT NULL,
            value REAL,
            level REAL NOT NULL,
            warning_level REAL,
            unit TEXT NOT NULL,
            since TEXT NOT NULL,
            acknowledged INTEGER NOT NULL DEFAULT 0,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            comment TEXT NOT NULL DEFAULT '',
            latched INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX alarm_events_channel_rule_seq ON alarm_events(channel, rule, seq);
        CREATE TABLE alarm_acks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            requested_at TEXT NOT NULL,
            channel TEXT NOT NULL,
            rule TEXT,
            by TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'cli',
            handled_at TEXT,
            result TEXT
        );
        CREATE TABLE alarm_rule_state (
            channel TEXT NOT NULL,
            rule TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (channel, rule)
        );
        """,
    ),
    (
        4,
        "survey sessions: surveys, point definitions, readings as captured, evaluated points",
        """
        CREATE TABLE surveys (
            id TEXT PRIMARY KEY,
            metadata TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE survey_point_specs (
            survey TEXT NOT NULL,
            point TEXT NOT NULL,
            ord INTEGER NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (survey, point)
        );
        CREATE TABLE survey_readings (
            id INTEGER PRIMARY KEY,
            survey TEXT NOT NULL,
            point TEXT NOT NULL DEFAULT '',
            height_cm INTEGER,
            ts TEXT NOT NULL,
            value_uGy_h REAL NOT NULL,
            source TEXT NOT NULL,
            unit TEXT NOT NULL DEFAULT 'uGy/h',
            raw TEXT NOT NULL DEFAULT '',
            discarded INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX survey_readings_by_point ON survey_readings(survey, point, height_cm, id);
        CREATE TABLE survey_points (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            survey TEXT NOT NULL,
            point TEXT NOT NULL,
            room_category INTEGER NOT NULL,
            formula TEXT NOT NULL,
            effective_uSv_h REAL,
            limit_uSv_h REAL NOT NULL,
            ratio REAL,
            verdict TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX survey_points_by_point ON survey_points(survey, point, seq);
        """,
    ),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]

# Tables whose rows carry the journal-wide seq (what sinks replay).
SEQ_TABLES: tuple[str, ...] = ("readings", "samples", "meter_events", "alarm_events", "survey_points")


def max_seq(conn: sqlite3.Connection) -> int:
    """The highest seq this journal has given out; the next row gets one more.

    Cursors count too: retention may have deleted the newest rows, and a seq
    given out again below a sink's cursor would never reach that sink.
    """
    parts = " UNION ALL ".join(f"SELECT MAX(seq) AS m FROM {t}" for t in (*SEQ_TABLES, "sink_cursors"))
    row = conn.execute(f"SELECT MAX(m) FROM ({parts})").fetchone()
    return int(row[0] or 0)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def connect(path: Path, *, readonly: bool = False, synchronous: str = "normal") -> sqlite3.Connection:
    """A connection with the journal's pragmas; read-only ones never create or lock."""
    try:
        if readonly:
            if not path.exists():
                raise JournalError("journal not found", source=str(path))
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        return conn
    except sqlite3.DatabaseError as err:
        raise JournalError(f"cannot open journal: {err}", source=str(path)) from None


def schema_version(conn: sqlite3.Connection) -> int:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration."""
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, description TEXT NOT NULL)"
        )
        current = schema_version(conn)
        if current > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {current} is newer than this radsurvey knows ({SCHEMA_VERSION});"
                " upgrade radsurvey",
                source=str(path),
            )
        applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}
        for version, description, sql in MIGRATIONS:
            if version in applied:  # by set, not by maximum: a journal may miss an earlier one
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version(version, applied_at, description) VALUES (?, ?, ?)",
                    (version, now_iso(), description),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("journal migrated", version=version, description=description)
        return SCHEMA_VERSION
    except sqlite3.DatabaseError as err:
        raise JournalError(f"cannot migrate journal: {err}", source=str(path)) from None


def _statements(sql: str) -> Iterator[str]:
    for part in sql.split(";"):
        if part.strip():
            yield part


@dataclass
class _Flush:
    done: threading.Event


_STOP = object()


class Journal:
    """The writable journal of one running daemon (one writer per file)."""

    def __init__(
        self,
        path: str | Path,
        *,
        commit_interval_s: float = 1.0,
        batch_size: int = 1000,
        synchronous: str = "normal",
        run_config: str = "",
        spill_dir: str | Path | None = None,
    ):
        self.path = Path(path)
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.commit_interval_s = commit_interval_s
        self.batch_size = batch_size
        self._conn = connect(self.path, synchronous=synchronous)
        migrate(self._conn, self.path)
        self._seq_lock = threading.Lock()
        # Rows of an earlier run that were never committed (spilled or counted) keep their seqs: never reuse them.
        self._next_seq = max(self._max_seq(), spill.uncommitted_top(self.path, self.spill_dir)) + 1
        spill.reserve(self.path)
        self.committed_seq = self._next_seq - 1
        self.last_error: str | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._listeners: list[Callable[[int], None]] = []
        self._health: list[Callable[[str | None], None]] = []
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self.run_id = self._start_run(run_config)
        self._thread = threading.Thread(target=self._writer, name="radsurvey-journal", daemon=True)
        self._closed = False
        self._thread.start()

    # -- identity -----------------------------------------------------------------

    def _max_seq(self) -> int:
        return max_seq(self._conn)

    def _start_run(self, config: str) -> int:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ver = version("radsurvey")
        except PackageNotFoundError:  # pragma: no cover - running from a source tree
            ver = "unknown"
        cur = self._conn.execute(
            "INSERT INTO runs(started_at, pid, version, config) VALUES (?, ?, ?, ?)",
            (now_iso(), os.getpid(), ver, config),
        )
        return int(cur.lastrowid or 0)

    # -- appending ------------------------------------------------------------------

    def append(self, table: str, row: dict[str, Any]) -> int:
        """Queue ``row`` for ``table`` with a fresh seq; returns the seq. Thread-safe.

        The seq is taken and the row queued under one lock, so the queue (and
        the writer, which commits it in order) sees seqs in increasing order:
        after every commit the committed seqs are gap-free up to the top one,
        which is what lets a sink's cursor move to that top (sinks/base.py).
        """
        if self._closed:
            raise JournalError("journal is closed", source=str(self.path))
        with self._seq_lock:
            seq = self._next_seq
            self._next_seq += 1
            self._queue.put((table, {"seq": seq, **row}))
        return seq

    def execute_now(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a statement (e.g. a cursor update) to run in the writer's next transaction."""
        self._queue.put(("__sql__", (sql, tuple(params))))

    def add_commit_listener(self, callback: Callable[[int], None]) -> None:
        """``callback(committed_seq)`` runs in the writer thread after each commit."""
        self._listeners.append(callback)

    def add_health_listener(self, callback: Callable[[str | None], None]) -> None:
        """``callback(error)`` runs in the writer thread after each failed commit, and with None after the
        first commit that succeeds again (the ``journal_write`` alarm)."""
        self._health.append(callback)

    def _tell_health(self, error: str | None) -> None:
        for callback in self._health:
            try:
                callback(error)
            except Exception:  # a listener must never stop the writer
                log.exception("journal health listener failed")

    def note_external_commit(self, seq: int) -> None:
        """Another connection of this process committed a row with ``seq`` (a survey store).

        The journal's own seqs continue above it, and the commit listeners (the
        sinks) wake up as for a commit of our own. Thread-safe.
        """
        with self._seq_lock:
            self._next_seq = max(self._next_seq, seq + 1)
            if seq <= self.committed_seq:
                return
            self.committed_seq = seq
        for callback in self._listeners:
            try:
                callback(seq)
            except Exception:  # a listener must never stop the caller
                log.exception("journal commit listener failed")

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Block until everything appended so far is committed."""
        marker = _Flush(threading.Event())
        self._queue.put(marker)
        return marker.done.wait(timeout_s)

    async def aflush(self, timeout_s: float = 30.0) -> bool:
        import asyncio

        return await asyncio.to_thread(self.flush, timeout_s)

    # -- writer thread ----------------------------------------------------------------

    def _writer(self) -> None:
        # The queue is FIFO, so when a flush or stop marker arrives every row
        # appended before it is already in ``pending``.
        pending: list[Any] = []
        flushes: list[_Flush] = []
        stop = False
        failures = 0
        while not (stop and (not pending or failures >= 3)):
            deadline = time.monotonic() + self.commit_interval_s
            while len(pending) < self.batch_size and not flushes and not stop:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Flush):
                    flushes.append(item)
                else:
                    pending.append(item)
            if pending:
                if self._commit(pending):
                    pending, failures = [], 0
                else:
                    failures += 1
                    if stop:
                        break  # stopping: no more retries, whatever the disk (the rows are spilled below)
                    time.sleep(min(self.commit_interval_s, 1.0))
            if not pending:
                for f in flushes:
                    f.done.set()
                flushes.clear()
        if pending:
            spill.save(self.path, self.spill_dir, self.run_id, pending, self.last_error)
        for f in flushes:
            f.done.set()

    def _commit(self, rows: list[Any]) -> bool:
        """Commit rows in one transaction; False (rows kept by the caller) on failure."""
        grouped: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        statements: list[tuple[str, tuple[Any, ...]]] = []
        top = 0
        for table, row in rows:
            if table == "__sql__":
                statements.append(row)
                continue
            cols = tuple(row)
            grouped.setdefault((table, cols), []).append(tuple(row[c] for c in cols))
            top = max(top, row["seq"])
        try:
            self._conn.execute("BEGIN")
            for key, values in grouped.items():
                sql = self._sql.get(key)
                if sql is None:
                    table, cols = key
                    sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                    self._sql[key] = sql
                self._conn.executemany(sql, values)
            for sql, params in statements:
                self._conn.execute(sql, params)
            self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            self.last_error = str(err)
            log.error("journal commit failed; will retry", error=str(err), rows=len(rows))
            self._tell_health(self.last_error)
            return False
        if self.last_error is not None:
            self.last_error = None
            log.info("journal commits again", rows=len(rows))
            self._tell_health(None)
        if top:
            self.committed_seq = max(self.committed_seq, top)
            for callback in self._listeners:
                try:
                    callback(self.committed_seq)
                except Exception:  # a listener must never stop the writer
                    log.exception("journal commit listener failed")
        return True

    # -- closing ------------------------------------------------------------------------

    def close(self, *, clean: bool = True, timeout_s: float = 60.0) -> None:
        """Commit everything, record the end of this run, close the file.

        The writer makes one last attempt and spills what it cannot commit, so
        a failing disk does not hold this up. A disk that does not answer at all
        (a commit hanging in fsync) is waited for ``timeout_s`` only: the rows
        still in flight are then counted, with their seq range, in the log.
        """
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            with self._seq_lock:
                top = self._next_seq - 1
            log.error(
                "journal writer did not finish: the disk does not answer; rows in flight may be lost",
                waited_s=timeout_s,
                committed_seq=self.committed_seq,
                first_seq=self.committed_seq + 1,
                last_seq=top,
            )
            return  # the writer still owns the connection
        try:
            self._conn.execute(
                "UPDATE runs SET stopped_at = ?, clean = ? WHERE id = ?",
                (now_iso(), 1 if clean and self.last_error is None else 0, self.run_id),
            )
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as err:
            log.error("cannot record the end of the run in the journal", error=str(err), run=self.run_id)
        finally:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(clean=exc[0] is None)


# -- reading (any process, never disturbs the writer) -------------------------------------


@contextmanager
def reader(path: str | Path) -> Iterator[sqlite3.Connection]:
    conn = connect(Path(path), readonly=True)
    try:
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {version} is newer than this radsurvey knows ({SCHEMA_VERSION})",
                source=str(path),
            )
        yield conn
    finally:
        conn.close()


def stats(path: str | Path) -> dict[str, Any]:
    """Row counts, first/last timestamps, size, schema version and the last run."""
    path = Path(path)
    with reader(path) as conn:
        tables: dict[str, Any] = {}
        for table in SEQ_TABLES:
            row = conn.execute(f"SELECT COUNT(*), MIN(ts), MAX(ts), MIN(seq), MAX(seq) FROM {table}").fetchone()
            tables[table] = {
                "rows": row[0],
                "first_ts": row[1],
                "last_ts": row[2],
                "first_seq": row[3],
                "last_seq": row[4],
            }
        last_run = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        runs = conn.execute("SELECT COUNT(*), SUM(clean) FROM runs").fetchone()
        cursors = {
            r["sink"]: {"seq": r["seq"], "updated_at": r["updated_at"]}
            for r in conn.execute("SELECT * FROM sink_cursors")
        }
        version = schema_version(conn)
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return {
        "path": str(path),
        "size_bytes": size,
        "schema_version": version,
        "tables": tables,
        "runs": {"count": runs[0], "clean": int(runs[1] or 0)},
        "last_run": dict(last_run) if last_run else None,
        "sink_cursors": cursors,
    }


def tail(path: str | Path, *, channel: str | None = None, n: int = 10) -> list[dict[str, Any]]:
    """The last ``n`` samples (optionally of one channel), oldest first."""
    with reader(path) as conn:
        if channel:
            rows = conn.execute(
                "SELECT * FROM samples WHERE channel = ? ORDER BY seq DESC LIMIT ?", (channel, n)
            ).fetchall()
        else:
            rows = conn.execute("SELECT * FROM samples ORDER BY seq DESC LIMIT ?", (n,)).fetchall()
    out = []
    for r in reversed(rows):
        d = dict(r)
        d["below_background"] = bool(d["below_background"])
        d["corrections"] = json.loads(d["corrections"])
        out.append(d)
    return out
