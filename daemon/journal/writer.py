"""The journal's writer: one thread commits appended rows in batches.

Every reading, sample and meter event gets a journal-wide monotonic ``seq`` and
is committed before anything is published; sinks replay from their cursor
(docs/architecture.md#the-journal). Writes go through one writer thread so that a slow fsync never
blocks acquisition: callers append rows (cheap, thread-safe) and the thread
commits them in batches every ``commit_interval_s`` or ``batch_size`` rows.
A failed commit is retried with the same rows; nothing is dropped.

Callers append typed readings, samples and events (``append_reading`` ...; rows.py
turns them into columns, times as integer milliseconds); the writer stores them
compactly (codec.py) and updates the minute/hour/year aggregates of each sample
in the same transaction (aggregates.py), so they always agree with the rows.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.protocols.errors import JournalError

from . import recovery, spill, times, uncommitted
from .aggregates import PERSIST_S, Aggregator
from .codec import INSERT_EXTRA, INSERT_READING, INSERT_SAMPLE, Encoder, measured_e
from .rows import alarm_event_columns, meter_event_columns, reading_columns, row_ms, sample_columns
from .schema import (
    SEQ_BLOCK,
    connect,
    current_boot,
    fold_counts,
    lost_power_floor,
    max_seq,
    migrate,
    now_iso,
    reservation,
)

if TYPE_CHECKING:
    from radsurvey.drivers.base import Reading
    from radsurvey.drivers.runner import MeterState

    from ..alarms.engine import Event
    from ..pipeline import Sample

log = structlog.get_logger("radsurvey.journal")


@dataclass
class _Flush:
    done: threading.Event
    now: bool = True  # commit at once; False: wait for the next commit the interval brings


_STOP = object()


@dataclass(frozen=True)
class _Cursor:
    """A sink's cursor to store (:meth:`Journal.save_cursor`)."""

    sink: str
    seq: int
    at: str


RESERVE_SEQ = "INSERT OR REPLACE INTO seq_reserved(id, seq, boot) VALUES (1, ?, ?)"
UPSERT_CURSOR = (
    "INSERT INTO sink_cursors(sink, seq, updated_at) VALUES (?, ?, ?) "
    "ON CONFLICT(sink) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at"
)
# Sinks' cursors are stored at most this often (and at every flush and at close), not with every commit:
# the page of ``sink_cursors`` rewritten every second was a quarter of the SD card's writes
# (benchmarks/README.md). A power cut makes the sinks deliver again what they delivered in the last
# ``CURSOR_PERSIST_S`` at most: at-least-once, as ever, with ``seq`` to tell a repeat (docs/sinks.md).
CURSOR_PERSIST_S = PERSIST_S


# What a power cut must not take, whatever ``commit_interval_s``: alarm transitions (an
# acknowledgement is one too) and meter faults are committed as soon as they are appended,
# with everything queued before them. Readings and samples wait for the interval.
URGENT_METER_STATES = frozenset({"error", "stale", "disconnected"})


def urgent(item: Any) -> bool:
    """A queued ``(table, row)`` that is committed at once (above)."""
    table, row = item
    if table == "alarm_events":
        return True
    return table == "meter_events" and isinstance(row, dict) and row.get("state") in URGENT_METER_STATES


# With SQLite's WAL and ``synchronous = NORMAL`` (the default) a commit is written to the WAL but not
# fsynced: it reaches the disk when the kernel writes its dirty pages out (Linux: once they are
# ``vm.dirty_expire_centisecs`` old, 30 s by default) or at the next checkpoint, and a power cut before that
# takes it back (sqlite.org/pragma.html#pragma_synchronous). That is the price of a few samples
# (docs/raspberry-pi.md, section 6); what must survive a power cut is committed with ``FULL`` for that one
# transaction, which fsyncs the WAL and so every commit before it too.
LAZY_SYNC = frozenset({"off", "normal", "0", "1"})


@contextlib.contextmanager
def _durably(conn: sqlite3.Connection, level: str | None) -> Iterator[None]:
    """Within the block, commits on ``conn`` are fsynced (``PRAGMA synchronous = FULL``), then ``conn`` is put
    back to ``level``, the journal's own; ``None``: nothing to do. A pragma touches no page: should one fail,
    the commit itself says what is wrong."""
    if level is None:
        yield
        return
    with contextlib.suppress(sqlite3.Error):
        conn.execute("PRAGMA synchronous = FULL")
    try:
        yield
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute(f"PRAGMA synchronous = {level}")


# A checkpoint copies every page the WAL holds into the journal file once, however often the WAL wrote it:
# the last leaves, the interior pages, the first page, the aggregates' pages are written there at almost
# every commit. With SQLite's default of 1 000 pages the copy came every 8 minutes at a 5 s commit and was
# a quarter of what the card was written; 4 000 (a 4 MiB WAL, still one 32 KiB wal-index segment of 4 062
# frames) copies those pages a quarter as often (benchmarks/README.md, "Soak").
WAL_CHECKPOINT_PAGES = 4000

WRITER_CACHE_KIB = 512  # the writer connection's page cache (SQLite's default: 2 000 KiB)


def _tell(listeners: Sequence[Callable[[Any], None]], value: Any, kind: str) -> None:
    """Call each listener with ``value``; one that fails is logged and never stops the caller (the writer)."""
    for callback in listeners:
        try:
            callback(value)
        except Exception:
            log.exception(f"journal {kind} listener failed")


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
        import_files: Sequence[str | Path] | None = None,
        record_run: bool = True,
        seq_floor: int = 0,
        full_check_at_open_max_mb: float | None = None,
        carried: Sequence[Any] = (),
    ):
        """Open (and migrate) the journal and start its writer thread.

        First the notes of rows an earlier run could not commit are recorded in
        the journal (``uncommitted.py``), then the spill files are imported:
        ``import_files`` if given, else those of this journal in ``spill_dir``
        (``self.imported`` says what came back). ``record_run=False`` (the
        ``journal import-spill`` command) adds no row to ``runs``. A damaged journal raises
        :class:`~.recovery.JournalDamaged` (see :meth:`open_or_start_fresh`): one up to
        ``full_check_at_open_max_mb`` is checked in full (SQLite's ``quick_check``), a larger one only where
        opening reads (``recovery.check_bounded``; :meth:`start_background_check` reads the rest).
        ``seq_floor``: the first seq given out is above it (a fresh journal after a damaged one);
        ``carried``: the rows the damaged journal could not commit (its :attr:`carried`), committed first.
        """
        self.path = Path(path)
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.commit_interval_s = commit_interval_s
        self.batch_size = batch_size
        self.checked_in_full = recovery.small_enough_to_check_at_open(self.path, full_check_at_open_max_mb)
        self.synchronous = synchronous.lower()
        self._conn = connect(self.path, synchronous=synchronous)
        # The writer touches the last pages of each table and the aggregates' rows; SQLite's default 2 MB
        # page cache filled over the first hour with pages it never touched again (RSS; benchmarks/README.md).
        self._conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self._conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        try:
            if self.checked_in_full:
                recovery.check(self._conn, self.path)
            else:
                recovery.check_bounded(self._conn, self.path)
            migrate(self._conn, self.path)
            self._enc = Encoder(self._conn)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._agg = Aggregator.load(self._conn)  # folds in what a crash left unwritten
                self._agg.write(self._conn)
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            self._conn.close()
            if recovery.is_corrupt(err):  # what opening reads is damaged: the same line as the checks'
                raise recovery.damaged(self.path, str(err)) from None
            raise
        except BaseException:
            self._conn.close()
            raise
        self._agg_written = time.monotonic()
        self._before_commit: list[Callable[[sqlite3.Connection], None]] = []
        self._seq_lock = threading.Lock()
        # Rows of an earlier run that were never committed (spilled or counted) keep their seqs: never reuse them.
        # They are recorded in the journal (table uncommitted, counted by max_seq); the side file is read too
        # in case that record could not be committed.
        uncommitted.fold(self._conn, self.path, self.spill_dir)
        top = max(self._max_seq(), spill.uncommitted_top(self.path, self.spill_dir), seq_floor)
        self._boot = current_boot()
        left = reservation(self._conn)
        self._reserved = left[0] if left is not None else 0  # seqs up to it may be told to sinks (schema.SEQ_BLOCK)
        lost = lost_power_floor(left, self._boot)
        if lost > top:
            log.warning(
                "the last run did not close the journal and the machine has restarted since (a power cut?): commits"
                " after its last fsync may be lost, and seqs go on above every seq it may have published",
                path=str(self.path),
                last_seq_in_journal=top,
                seqs_continue_above=lost,
            )
        self._next_seq = max(top, lost) + 1
        spill.reserve(self.path)
        self.committed_seq = self._next_seq - 1
        self.last_error: str | None = None
        self.damage: recovery.JournalDamaged | None = None  # found after open (background check, a commit)
        self.carried: list[Any] = []  # after close: what a damaged journal could not commit (for the fresh one)
        self._damage_listeners: list[Callable[[recovery.JournalDamaged], None]] = []
        self.background_check: recovery.BackgroundCheck | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._listeners: list[Callable[[int], None]] = []
        self._health: list[Callable[[str | None], None]] = []
        self._sql: dict[tuple[str, tuple[str, ...]], str] = {}
        self._cursors: dict[str, _Cursor] = {}  # the newest of each sink, not yet stored (writer thread)
        self._cursors_written = time.monotonic()
        files = (
            [Path(f) for f in import_files]
            if import_files is not None
            else uncommitted.spill_files(self.path, self.spill_dir)
        )
        self.imported: list[dict[str, Any]] = [self._import(f) for f in files]
        if carried:
            self._carry(list(carried))
        self.run_id = self._start_run(run_config) if record_run else 0
        self._thread = threading.Thread(target=self._writer, name="radsurvey-journal", daemon=True)
        self._closed = False
        self._thread.start()

    @classmethod
    def open_or_start_fresh(cls, path: str | Path, **options: Any) -> Journal:
        """The daemon's journal: a damaged one is set aside (kept) and acquisition goes on in a fresh one.

        One error line names the damaged file, where it was kept and the recovery command; the fresh
        journal's seqs continue above the highest seq still readable in the damaged copy, and the
        ``journal_damaged`` alarm rule is in fault while the copy waits (``recovery.waiting``).
        """
        try:
            return cls(path, **options)
        except recovery.JournalDamaged as err:
            return cls.start_fresh(path, err, **options)

    @classmethod
    def start_fresh(cls, path: str | Path, err: recovery.JournalDamaged, **options: Any) -> Journal:
        """Set the damaged journal at ``path`` aside (closed by everyone), log the one line, open a fresh one.

        ``carried`` in ``options``: the rows the damaged journal could not commit (its :attr:`carried`).
        """
        kept = recovery.set_aside(Path(path))
        floor = recovery.readable_max_seq(kept)
        log.error(
            f"{err.message.split(';')[0]}: kept as {kept.name}; acquiring into a fresh journal; "
            f"{recovery.recovery_hint(Path(path))}",
            path=str(path),
            kept=str(kept),
            seq_floor=floor,
        )
        return cls(path, seq_floor=floor, **options)

    # -- damage found after open --------------------------------------------------

    def add_damage_listener(self, callback: Callable[[recovery.JournalDamaged], None]) -> None:
        """``callback(err)`` once, from the thread that found damage after open (the background check, the
        writer at a commit, a sink's reader): the daemon then sets this journal aside (cli/run.py)."""
        self._damage_listeners.append(callback)

    def report_damage(self, err: recovery.JournalDamaged) -> None:
        """Damage was found after open (thread-safe; only the first report is passed on)."""
        with self._seq_lock:
            if self.damage is not None:
                return
            self.damage = err
        _tell(self._damage_listeners, err, "damage")

    def report_if_corrupt(self, err: BaseException) -> bool:
        """``err`` (from a read or a commit) says the file is damaged: reported as such; True if so."""
        if not recovery.is_corrupt(err):
            return False
        self.report_damage(recovery.damaged(self.path, str(err)))
        return True

    def start_background_check(self) -> None:
        """Run the full ``quick_check`` in the background, once, unless it ran at open; damage is reported."""
        if self.checked_in_full or self.background_check is not None:
            return
        self.background_check = recovery.BackgroundCheck(self.path, self.report_damage)
        self.background_check.start()

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

    def _import(self, file: Path) -> dict[str, Any]:
        """Commit a spill file's rows under their own seqs (before the writer thread starts).

        Rows whose seq the journal already holds are skipped, so importing a
        file again changes nothing. The ``uncommitted`` record of the file is
        updated in the same transaction; after the commit the file is renamed
        ``*.imported``. Returns what happened (``error`` set if nothing did).
        """
        out: dict[str, Any] = {"file": str(file), "rows": 0, "imported": 0, "present": 0, "error": None}
        try:
            got = uncommitted.parse_spill(file)
        except JournalError as err:
            out["error"] = str(err)
            log.error("spill file not imported", file=str(file), error=str(err))
            return out
        present = uncommitted.present_seqs(self._conn, got.first_seq, got.last_seq)
        todo = [(table, row) for table, row in got.rows if row["seq"] not in present]
        out.update(
            rows=len(got.rows), present=len(got.rows) - len(todo), first_seq=got.first_seq, last_seq=got.last_seq
        )
        self._before_commit.append(lambda conn: uncommitted.mark_imported(conn, got, len(todo)))
        if not self._commit(todo, durable=True):  # the file is set aside after it: on the disk first
            self._before_commit.clear()
            out["error"] = self.last_error
            self.last_error = None  # the import failed; this run's own commits are judged on their own
            log.error("spill file not imported; it stays for the next start", file=str(file), error=out["error"])
            return out
        out["imported"] = len(todo)
        with self._seq_lock:
            self._next_seq = max(self._next_seq, got.last_seq + 1)
        renamed = uncommitted.set_aside(file)
        out["renamed"] = str(renamed) if renamed else None
        log.warning(
            "spilled journal rows imported under their own seqs",
            file=str(file),
            imported=len(todo),
            already_in_journal=out["present"],
            first_seq=got.first_seq,
            last_seq=got.last_seq,
            renamed=out["renamed"],
        )
        return out

    def _carry(self, rows: list[Any]) -> None:
        """Commit what the damaged journal before this one could not (before the writer thread starts)."""
        seqs = [row["seq"] for table, row in rows if table != "__sql__"]
        with self._seq_lock:
            self._next_seq = max(self._next_seq, max(seqs, default=0) + 1)
        if self._commit(rows, durable=True):
            log.warning(
                "rows the damaged journal could not commit are in the fresh one, under their own seqs",
                rows=len(seqs),
                first_seq=min(seqs, default=None),
                last_seq=max(seqs, default=None),
            )
            return
        spill.save(self.path, self.spill_dir, 0, rows, self.last_error)
        self.last_error = None  # this run's own commits are judged on their own

    # -- appending ------------------------------------------------------------------

    def append_reading(self, reading: Reading) -> int:
        """Queue a meter's reading; returns its seq (as :meth:`append`)."""
        return self.append("readings", reading_columns(reading))

    def append_sample(self, sample: Sample) -> int:
        """Queue a channel's sample; returns its seq."""
        return self.append("samples", sample_columns(sample))

    def append_meter_event(self, state: MeterState) -> int:
        """Queue a meter's state change (faults and disconnects are committed at once)."""
        return self.append("meter_events", meter_event_columns(state))

    def append_alarm_event(self, event: Event) -> int:
        """Queue an alarm transition or acknowledgement (committed at once)."""
        return self.append("alarm_events", alarm_event_columns(event))

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

    def record_clock_step(self, ts: str, step_s: float) -> None:
        """A step of the system clock (``ts`` on the new clock; ``step_s`` > 0 forward), in ``clock_steps``."""
        self.execute_now("INSERT INTO clock_steps(ts, step_s, run) VALUES (?, ?, ?)", (ts, step_s, self.run_id))

    def execute_now(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue a statement (e.g. a cursor update) to run in the writer's next transaction."""
        self._queue.put(("__sql__", (sql, tuple(params))))

    def save_cursor(self, sink: str, seq: int) -> None:
        """Move ``sink``'s stored cursor to ``seq``: stored within ``CURSOR_PERSIST_S``, at a flush and at close.

        Thread-safe; only the newest cursor of each sink is kept until then (see ``CURSOR_PERSIST_S``).
        """
        self._queue.put(_Cursor(sink, seq, times.now_text()))

    def add_commit_listener(self, callback: Callable[[int], None]) -> None:
        """``callback(committed_seq)`` runs in the writer thread after each commit."""
        self._listeners.append(callback)

    def add_health_listener(self, callback: Callable[[str | None], None]) -> None:
        """``callback(error)`` runs in the writer thread after each failed commit, and with None after the
        first commit that succeeds again (the ``journal_write`` alarm)."""
        self._health.append(callback)

    def _tell_health(self, error: str | None) -> None:
        _tell(self._health, error, "health")

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
        _tell(self._listeners, seq, "commit")

    def flush(self, timeout_s: float = 30.0, *, now: bool = True) -> bool:
        """Block until everything appended so far is committed.

        ``now=False`` adds no commit of its own: it waits for the next one ``commit_interval_s`` brings (a
        task for the writer, such as the retention pass once a minute, then costs the SD card no extra commit).
        """
        marker = _Flush(threading.Event(), now)
        self._queue.put(marker)
        return marker.done.wait(timeout_s)

    async def aflush(self, timeout_s: float = 30.0, *, now: bool = True) -> bool:
        import asyncio

        return await asyncio.to_thread(self.flush, timeout_s, now=now)

    # -- writer thread ----------------------------------------------------------------

    def _writer(self) -> None:
        # The queue is FIFO, so when a flush or stop marker arrives every row
        # appended before it is already in ``pending``.
        pending: list[Any] = []
        flushes: list[_Flush] = []
        stop = False
        failures = 0
        now = False  # an urgent row waits: commit without waiting out the interval

        def take(item: object) -> bool:
            """File a queue item; True for the stop marker."""
            nonlocal now
            if item is _STOP:
                return True
            if isinstance(item, _Flush):
                flushes.append(item)
            elif isinstance(item, _Cursor):
                self._cursors[item.sink] = item
            else:
                pending.append(item)
                now = now or urgent(item)
            return False

        while not (stop and (not pending or failures >= 3)):
            deadline = time.monotonic() + self.commit_interval_s
            while len(pending) < self.batch_size and not any(f.now for f in flushes) and not stop and not now:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
                stop = take(item)
            cursors = self._cursors_due(forced=any(f.now for f in flushes))
            if pending or cursors:
                if self._commit(pending, cursors=cursors, durable=now):
                    pending, failures, now = [], 0, False
                else:
                    failures += 1
                    # Take in what waits (a full batch or a flush would otherwise keep the stop marker unread
                    # while the disk is full, and close would wait its whole timeout).
                    while not stop:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        stop = take(item)
                    if stop:
                        break  # stopping: no more retries, whatever the disk (the rows are spilled below)
                    time.sleep(min(self.commit_interval_s, 1.0))
            if not pending:
                for f in flushes:
                    f.done.set()
                flushes.clear()
        if pending and self.damage is not None:
            # Not committed into a damaged file: handed to the fresh journal (``carried``), under their seqs.
            self.carried = [item for item in pending if item[0] != "__fn__"]
        elif pending:
            spill.save(self.path, self.spill_dir, self.run_id, pending, self.last_error)
        for f in flushes:
            f.done.set()

    def _commit(self, rows: list[Any], *, cursors: bool = False, durable: bool = False) -> bool:
        """Commit rows in one transaction; False (rows kept by the caller) on failure.

        The sinks' cursors waiting in ``_cursors`` go in too when ``cursors`` or when they are due.
        ``durable``: the commit is on the disk when this returns (see :func:`_durably`). A commit whose seqs go
        past the reservation raises it (schema.SEQ_BLOCK) and is durable too, before any sink is told of them.
        """
        with self._seq_lock:
            given = self._next_seq - 1
        reserve = given + SEQ_BLOCK if given > self._reserved else None
        lazy = self.synchronous in LAZY_SYNC
        with _durably(self._conn, self.synchronous if lazy and (durable or reserve is not None) else None):
            done = self._commit_now(rows, cursors=cursors, reserve=reserve)
        if done and reserve is not None:
            self._reserved = reserve
        return done

    def _commit_now(self, rows: list[Any], *, cursors: bool, reserve: int | None) -> bool:
        grouped: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
        statements: list[tuple[str, tuple[Any, ...]]] = []
        tasks: list[Callable[[sqlite3.Connection], None]] = []
        readings: list[tuple[Any, ...]] = []
        samples: list[tuple[Any, ...]] = []
        extras: list[tuple[Any, ...]] = []
        top = 0
        agg = self._agg.snapshot()
        enc = self._enc
        try:
            self._conn.execute("BEGIN")
            for table, row in rows:
                if table == "__sql__":
                    statements.append(row)
                    continue
                if table == "__fn__":  # run_in_writer: in the transaction of the rows queued before it
                    tasks.append(row)
                    continue
                top = max(top, row["seq"])
                if table == "readings":
                    readings.append(enc.reading(row))
                elif table == "samples":
                    stored, extra = enc.sample(row)
                    samples.append(stored)
                    if extra:
                        extras.append(extra)
                    channel = enc.channel_id(row["channel"])
                    e = measured_e(
                        enc.factor_of(stored[2]), row["net_uGy_h"], row["normalised_uGy_h"], row["effective_uSv_h"]
                    )
                    agg.sample(self._conn, channel, row_ms(row), e)
                else:
                    if table == "alarm_events":
                        agg.alarm(enc.channel_id(row["channel"]), row["rule"], row["state"])
                    cols = tuple(row)
                    grouped.setdefault((table, cols), []).append(tuple(row[c] for c in cols))
            if readings:
                self._conn.executemany(INSERT_READING, readings)
            if samples:
                self._conn.executemany(INSERT_SAMPLE, samples)
            if extras:
                self._conn.executemany(INSERT_EXTRA, extras)
            for key, values in grouped.items():
                sql = self._sql.get(key)
                if sql is None:
                    table, cols = key
                    sql = f"INSERT INTO {table}({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
                    self._sql[key] = sql
                self._conn.executemany(sql, values)
            agg.seq = max(agg.seq, top)
            # once a minute, and before a retention pass (which never removes rows not yet on disk in them)
            if tasks or self._before_commit or time.monotonic() - self._agg_written >= PERSIST_S:
                agg.write(self._conn)
                fold_counts(self._conn)  # the raw rows' counts, once a minute too (schema.FOLDED)
            for sql, params in statements:
                self._conn.execute(sql, params)
            cursors = self._cursors_due(forced=cursors)
            if cursors:
                self._write_cursors()
            self.before_commit(self._conn, tasks)
            if reserve is not None:
                self._conn.execute(RESERVE_SEQ, (reserve, self._boot))
            self._conn.execute("COMMIT")
        except sqlite3.Error as err:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            enc.reload()  # ids given out in the rolled-back transaction do not exist
            if self.report_if_corrupt(err):  # not the disk: the file; the daemon sets it aside (cli/run.py)
                return False
            self.last_error = str(err)
            log.error("journal commit failed; will retry", error=str(err), rows=len(rows))
            self._tell_health(self.last_error)
            return False
        if agg.persisted_seq != self._agg.persisted_seq:
            self._agg_written = time.monotonic()
        if cursors:
            self._cursors.clear()
            self._cursors_written = time.monotonic()
        self._agg = agg
        if self.last_error is not None:
            self.last_error = None
            log.info("journal commits again", rows=len(rows))
            self._tell_health(None)
        if top:
            self.committed_seq = max(self.committed_seq, top)
            _tell(self._listeners, self.committed_seq, "commit")
        return True

    def _cursors_due(self, *, forced: bool) -> bool:
        """Cursors wait to be stored, and it is time (``CURSOR_PERSIST_S``) or ``forced`` (a flush)."""
        return bool(self._cursors) and (forced or time.monotonic() - self._cursors_written >= CURSOR_PERSIST_S)

    def _write_cursors(self) -> None:
        self._conn.executemany(UPSERT_CURSOR, [(c.sink, c.seq, c.at) for c in self._cursors.values()])

    def before_commit(self, conn: sqlite3.Connection, tasks: list[Callable[[sqlite3.Connection], None]]) -> None:
        """Runs in the writer's transaction just before COMMIT (retention deletes go here)."""
        with self._seq_lock:
            pending, self._before_commit = [*self._before_commit, *tasks], []
        for fn in pending:
            try:
                fn(conn)
            except sqlite3.Error:
                raise
            except Exception:  # a bug in a maintenance task must not stop the writer
                log.exception("journal maintenance task failed")

    def run_in_writer(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``fn(conn)`` inside the transaction that commits the rows appended before it (thread-safe)."""
        self._queue.put(("__fn__", fn))

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
        if self.background_check is not None:
            self.background_check.stop()
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
            if self._agg.persisted_seq != self._agg.seq or self._agg.dirty or self._agg.closed or self._cursors:
                try:
                    self._conn.execute("BEGIN")
                    self._agg.write(self._conn)
                    fold_counts(self._conn)
                    self._write_cursors()
                    self._conn.execute("COMMIT")
                except sqlite3.Error as err:  # recomputed from the raw rows at the next start; sinks deliver again
                    self._conn.execute("ROLLBACK")
                    # (a damaged journal's own line has been said: what its salvage lacks is no news then)
                    (log.warning if self.damage else log.error)(
                        "aggregates and cursors not written at close", error=str(err)
                    )
            if self.run_id:
                self._conn.execute(
                    "UPDATE runs SET stopped_at = ?, clean = ? WHERE id = ?",
                    (now_iso(), 1 if clean and self.last_error is None else 0, self.run_id),
                )
            # Every seq told to a sink is in the file now: the next run continues right above the last one.
            self._conn.execute("DELETE FROM seq_reserved")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as err:
            log.error("cannot record the end of the run in the journal", error=str(err), run=self.run_id)
        finally:
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(clean=exc[0] is None)
