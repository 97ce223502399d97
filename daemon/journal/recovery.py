"""A damaged journal: found at open or soon after start, set aside, salvaged (``radsurvey journal recover``).

* :func:`check` runs SQLite's ``quick_check`` on an open connection and raises :class:`JournalDamaged`
  (one line naming the file and the recovery command) when it finds a problem. It reads every page:
  a journal up to ``FULL_CHECK_AT_OPEN_MAX_MB`` gets it at open; a larger one gets :func:`check_bounded` at
  open (the header, the schema and the pages acquisition touches first, each read by its key) and the full
  check from :class:`BackgroundCheck` (its own thread and read-only connection, once per start).
* :func:`is_corrupt` tells SQLite's "malformed" and "not a database" apart from other errors: raised by a
  commit or a read at run time they mean the same damage (:func:`damaged` makes the one line).
* :func:`set_aside` renames the damaged file (with its ``-wal``/``-shm``) to ``<name>.damaged-<UTC time>``:
  the damaged bytes are always kept. The daemon then acquires into a fresh journal whose seqs continue
  above the highest seq still readable in the damaged copy (:func:`readable_max_seq`), and the
  ``journal_damaged`` alarm rule stays in ``fault`` while a damaged copy is waiting (:func:`waiting`).
* :func:`salvage` copies every row SQLite can still read, table by table (rowid ranges halved around
  unreadable pages), into a new journal with the same seqs, cursors, contexts and ids, then brings it to
  the current schema. :func:`recover` is the command: the journal itself when it is damaged (it is
  replaced by the salvage), else each damaged copy waiting beside it (into ``<copy>.recovered``); a
  handled copy is renamed ``...damaged-<time>.handled`` (kept, no longer waiting).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from radsurvey.protocols.errors import JournalError

from .schema import (
    SEQ_TABLES,
    STORED_SEQ_TABLES,
    connect,
    current_boot,
    lost_power_floor,
    max_seq,
    migrate,
    recount,
    reservation,
)

log = structlog.get_logger("radsurvey.journal")

DAMAGED = ".damaged-"
HANDLED = ".handled"
SIDE_FILES = ("-wal", "-shm")


class JournalDamaged(JournalError):
    """The journal fails SQLite's quick_check."""


def recovery_hint(path: Path) -> str:
    return f"run 'radsurvey journal recover --journal {path}' (it keeps the damaged file)"


# A journal up to this size (about half a day of 8 meters x 1 Hz) is checked in full (``quick_check``, every
# page) when it is opened and by ``journal stats``: about 0.1 s on the benchmarks' PC (a 1-day, 33 MB journal
# takes 0.2 s; benchmarks/README.md, "Journal age"). A larger one is checked in full in the background after
# start (docs/configuration.md, "A damaged journal"). Our decision: the regulation says nothing about the
# journal's storage. The config's default (``[journal] full_check_at_open_max_mb``) is this one.
FULL_CHECK_AT_OPEN_MAX_MB = 16.0

SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26


def is_corrupt(err: BaseException) -> bool:
    """SQLite says the file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB, or one of their extended codes)."""
    code = getattr(err, "sqlite_errorcode", None)
    return (
        isinstance(err, sqlite3.DatabaseError) and code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)
    )


def damaged(path: Path, what: str) -> JournalDamaged:
    """The one line for a damaged journal: what SQLite said, and the recovery."""
    first = " ".join(what.split())[:160] or "no answer"
    return JournalDamaged(f"journal is damaged (SQLite {first}); {recovery_hint(path)}", source=str(path))


def check(conn: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`JournalDamaged` unless ``PRAGMA quick_check`` says ok (it reads every page)."""
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    except sqlite3.DatabaseError as err:
        if isinstance(err, sqlite3.OperationalError) and not is_corrupt(err):
            raise  # interrupted, or the disk: not a verdict on the file
        rows = [str(err)]
    if rows != ["ok"]:
        raise damaged(path, f"quick_check: {rows[0] if rows else ''}")


def small_enough_to_check_at_open(path: Path, max_mb: float | None = None) -> bool:
    """The file (with its WAL) is small enough for the full check at open (``FULL_CHECK_AT_OPEN_MAX_MB``)."""
    if max_mb is None:
        max_mb = FULL_CHECK_AT_OPEN_MAX_MB
    size = sum(p.stat().st_size for p in (path, path.with_name(path.name + "-wal")) if p.exists())
    return size <= max_mb * 1024 * 1024


def check_bounded(conn: sqlite3.Connection, path: Path) -> None:
    """Raise :class:`JournalDamaged` unless the header, the schema and the pages acquisition reads first are sane.

    Each is a lookup by key, whatever the journal's age: the schema (every row of ``sqlite_master``), the
    top seq of each table with seqs, ``row_counts``, ``sink_cursors``, the open aggregate buckets (the newest
    of each channel) and the last run. The rest of the file is read by :class:`BackgroundCheck`.
    """
    try:
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        if page_size < 512 or page_size > 65536 or page_size & (page_size - 1):
            raise damaged(path, f"header: page size {page_size}")
        if int(conn.execute("PRAGMA page_count").fetchone()[0]) < 1:
            raise damaged(path, "header: no pages")
        # Every schema row is read (name and sql), though only the names are used below.
        names = {str(name) for name, _sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        max_seq(conn)
        for table in ("row_counts", "sink_cursors"):
            if table in names:
                conn.execute(f"SELECT * FROM {table}").fetchall()
        if "runs" in names:
            conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchall()
        if "channels" in names:
            channels = [r[0] for r in conn.execute("SELECT id FROM channels").fetchall()]
            for agg in ("agg_minute", "agg_hour"):
                if agg in names:  # one search on the (channel, start_ms) key per channel (a join would scan)
                    for channel in channels:
                        conn.execute(
                            f"SELECT * FROM {agg} WHERE channel = ? ORDER BY start_ms DESC LIMIT 1", (channel,)
                        ).fetchall()
    except sqlite3.DatabaseError as err:
        if is_corrupt(err):
            raise damaged(path, str(err)) from None
        raise


class BackgroundCheck:
    """The full ``quick_check`` of a journal after start: once, in its own thread and read-only connection.

    In WAL mode it holds no lock the writer needs (the WAL grows while it reads; checkpoints catch up after).
    ``on_damage`` gets the :class:`JournalDamaged` line from the check's thread; :meth:`stop` interrupts it.
    """

    def __init__(self, path: Path, on_damage: Callable[[JournalDamaged], None]):
        self.path = path
        self.on_damage = on_damage
        self.seconds: float | None = None  # how long the check took, once it is done
        self.verdict: str | None = None  # "ok", "damaged", or what stopped it
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="radsurvey-journal-check", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        t0 = time.monotonic()
        found: JournalDamaged | None = None
        try:
            with self._lock:
                if self._stopped:
                    return
                self._conn = connect(self.path, readonly=True)
            check(self._conn, self.path)
            self.verdict = "ok"
        except JournalDamaged as err:
            found, self.verdict = err, "damaged"
        except (sqlite3.Error, JournalError) as err:
            if is_corrupt(err):
                found, self.verdict = damaged(self.path, str(err)), "damaged"
            else:
                self.verdict = str(err)
        finally:
            with self._lock:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                stopped = self._stopped
        self.seconds = time.monotonic() - t0
        if stopped:
            return
        if found is not None:
            self.on_damage(found)
        elif self.verdict == "ok":
            log.info("journal passes quick_check", path=str(self.path), seconds=round(self.seconds, 2))
        else:
            log.warning("journal quick_check did not finish", path=str(self.path), error=self.verdict)

    def join(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the check to end; True once it has."""
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Interrupt the check (its verdict is dropped) and wait for its thread."""
        with self._lock:
            self._stopped = True
            if self._conn is not None:
                self._conn.interrupt()
        if self._thread.is_alive():
            self._thread.join(timeout_s)


def set_aside(path: Path) -> Path:
    """Rename the damaged journal and its side files to ``<name>.damaged-<UTC time>``; the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}{DAMAGED}{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}{DAMAGED}{stamp}-{n}")
    _rename(path, target)
    return target


def _rename(path: Path, target: Path) -> None:
    """Rename a journal file and its -wal/-shm beside it."""
    path.rename(target)
    for side in SIDE_FILES:
        extra = path.with_name(path.name + side)
        if extra.exists():
            extra.rename(target.with_name(target.name + side))


def waiting(path: Path) -> list[Path]:
    """Damaged copies of the journal at ``path`` nobody has recovered yet."""
    prefix = path.name + DAMAGED
    return sorted(
        p for p in path.parent.glob(prefix + "*") if not p.name.endswith((HANDLED, ".recovered", *SIDE_FILES))
    )


def readable_max_seq(path: Path) -> int:
    """The highest seq still readable in a damaged journal (0 if none): a fresh journal continues above it."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.DatabaseError:
        return 0
    best = 0
    try:
        for table in (*STORED_SEQ_TABLES, *SEQ_TABLES, "sink_cursors"):
            try:
                row = conn.execute(f"SELECT MAX(seq) FROM {table}").fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row and row[0] is not None:
                best = max(best, int(row[0]))
        try:
            row = conn.execute("SELECT MAX(last_seq) FROM uncommitted").fetchone()
            if row and row[0] is not None:
                best = max(best, int(row[0]))
        except sqlite3.DatabaseError:
            pass
        try:  # a power cut that damaged the file may also have taken published commits (schema.SEQ_BLOCK)
            best = max(best, lost_power_floor(reservation(conn), current_boot()))
        except sqlite3.DatabaseError:
            pass
    finally:
        conn.close()
    return best


@dataclass
class Salvage:
    """What :func:`salvage` copied: rows per table, and the rows (or tables) it could not read."""

    rows: dict[str, int] = field(default_factory=dict)
    unreadable_rows: int = 0
    unreadable_tables: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def salvage(source: Path, target: Path) -> Salvage:
    """Copy every row SQLite can read from ``source`` (damaged) into a new journal at ``target``."""
    if target.exists():
        raise JournalError("salvage target exists already", source=str(target))
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        schema = src.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    except sqlite3.DatabaseError as err:
        raise JournalError(
            f"nothing can be salvaged: the journal's schema itself is unreadable ({err})", source=str(source)
        ) from None
    out = Salvage()
    dst = connect(target)
    try:
        tables = [(name, sql) for kind, name, sql in schema if kind == "table"]
        dst.execute("BEGIN")
        for _, sql in tables:
            dst.execute(sql)
        for name, sql in tables:
            copied = _copy_table(src, dst, name, without_rowid="WITHOUT ROWID" in sql.upper(), out=out)
            out.rows[name] = copied
        for kind, _, sql in schema:
            if kind in ("index", "view", "trigger"):
                dst.execute(sql)
        if any(name == "row_counts" for name, _ in tables):
            recount(dst)  # the rows salvaged, not the counts the damaged journal held
        dst.execute("COMMIT")
        check(dst, target)
        migrate(dst, target)  # a salvage of an older journal is brought to the current schema
    except BaseException:
        dst.close()
        target.unlink(missing_ok=True)
        for side in SIDE_FILES:
            target.with_name(target.name + side).unlink(missing_ok=True)
        raise
    finally:
        src.close()
    dst.close()
    return out


def _copy_table(
    src: sqlite3.Connection, dst: sqlite3.Connection, table: str, *, without_rowid: bool, out: Salvage
) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    try:
        columns = [str(r[1]) for r in src.execute(f"PRAGMA table_info({quoted})").fetchall()]
    except sqlite3.DatabaseError:
        out.unreadable_tables.append(table)
        return 0
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    if without_rowid:
        try:
            rows = src.execute(f"SELECT {cols} FROM {quoted}").fetchall()
        except sqlite3.DatabaseError:
            out.unreadable_tables.append(table)
            return 0
        dst.executemany(f"INSERT INTO {quoted} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)
        return len(rows)
    insert = f"INSERT INTO {quoted} (rowid, {cols}) VALUES ({', '.join('?' * (len(columns) + 1))})"
    select = f"SELECT rowid, {cols} FROM {quoted} WHERE rowid BETWEEN ? AND ?"
    try:
        lo, hi = src.execute(f"SELECT MIN(rowid), MAX(rowid) FROM {quoted}").fetchone()
    except sqlite3.DatabaseError:
        hi = _last_rowid_probe(src, quoted)
        if hi is None:
            # Neither end of the table can be read (its root page is damaged): nothing of it can be reached,
            # and bisecting an unknown range would probe without end.
            out.unreadable_tables.append(table)
            return 0
        lo = 1
    if lo is None or hi is None:
        return 0
    copied = 0
    ranges = [(int(lo), int(hi))]
    while ranges:
        a, b = ranges.pop()
        try:
            rows = src.execute(select, (a, b)).fetchall()
        except sqlite3.DatabaseError:
            if a == b:
                out.unreadable_rows += 1
                continue
            mid = (a + b) // 2
            ranges += [(mid + 1, b), (a, mid)]  # the lower half first
            continue
        dst.executemany(insert, rows)
        copied += len(rows)
    return copied


def _last_rowid_probe(src: sqlite3.Connection, quoted: str) -> int | None:
    """When MAX(rowid) cannot be read: the largest rowid reachable from the end; None if none is."""
    try:
        row = src.execute(f"SELECT rowid FROM {quoted} ORDER BY rowid DESC LIMIT 1").fetchone()
        return int(row[0]) if row else 0
    except sqlite3.DatabaseError:
        return None


@dataclass
class Recovered:
    damaged: Path  # the damaged bytes, kept
    journal: Path  # the new journal holding what could be read
    salvage: Salvage


def recover(path: Path) -> list[Recovered]:
    """``radsurvey journal recover``: salvage the damaged journal at ``path``, or its waiting damaged copies."""
    done: list[Recovered] = []
    if path.exists():
        try:
            conn = connect(path, readonly=True)
            try:
                check(conn, path)
            finally:
                conn.close()
        except JournalDamaged:
            copy = set_aside(path)
            result = salvage(copy, path)
            handled = copy.with_name(copy.name + HANDLED)
            _rename(copy, handled)
            done.append(Recovered(handled, path, result))
    for copy in waiting(path):
        target = copy.with_name(copy.name + ".recovered")
        result = salvage(copy, target)
        handled = copy.with_name(copy.name + HANDLED)
        _rename(copy, handled)
        done.append(Recovered(handled, target, result))
    return done
