"""The facility record: one SQLite file of its own beside the journal (docs/facility.md says why).

Tables: the register (``rooms``, ``apparatus``, ``instruments``, ``equipment``),
what happens to it (``surveys`` filed under rooms, ``holds``, ``incidents``,
``inspections``, ``doses``), who may do what (``roles``), settings, and
``history``: one row per change (who, when, what, old and new values), which
triggers make append-only. Every command is one ``BEGIN IMMEDIATE`` transaction:
a refused command changes nothing.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .model import Apparatus, FacilityError, Instrument, ProtectiveItem, Room

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rooms (name TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apparatus (
    id TEXT PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(name), record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS instruments (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS equipment (id TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS surveys (
    id TEXT PRIMARY KEY, room TEXT NOT NULL REFERENCES rooms(name), apparatus TEXT,
    survey_date TEXT NOT NULL, conclusion TEXT NOT NULL, filed_at TEXT NOT NULL, filed_by TEXT NOT NULL,
    source TEXT NOT NULL, document TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS surveys_room ON surveys(room, survey_date);
CREATE TABLE IF NOT EXISTS holds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL REFERENCES rooms(name),
    since TEXT NOT NULL, effective_date TEXT NOT NULL, cause TEXT NOT NULL, reason TEXT NOT NULL,
    placed_by TEXT NOT NULL, lifted_at TEXT, lifted_by TEXT, lifted_reason TEXT, lifted_by_survey TEXT);
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL REFERENCES rooms(name),
    opened_at TEXT NOT NULL, opened_by TEXT NOT NULL, record TEXT NOT NULL,
    closed_at TEXT, closed_by TEXT, closure TEXT);
CREATE TABLE IF NOT EXISTS inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT, item TEXT NOT NULL REFERENCES equipment(id),
    inspected_on TEXT NOT NULL, result TEXT NOT NULL, by TEXT NOT NULL, note TEXT NOT NULL,
    lead_equivalent_mm REAL, recorded_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS doses (
    id INTEGER PRIMARY KEY AUTOINCREMENT, worker TEXT NOT NULL, period_start TEXT NOT NULL,
    period_end TEXT NOT NULL, dose_mSv TEXT NOT NULL, service TEXT NOT NULL, source TEXT NOT NULL,
    imported_at TEXT NOT NULL, UNIQUE(worker, period_start, period_end, service));
CREATE TABLE IF NOT EXISTS roles (account TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY(account, role));
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, by TEXT NOT NULL,
    entity TEXT NOT NULL, key TEXT NOT NULL, action TEXT NOT NULL, old TEXT, new TEXT);
CREATE TRIGGER IF NOT EXISTS history_no_update BEFORE UPDATE ON history
    BEGIN SELECT RAISE(ABORT, 'the facility history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS history_no_delete BEFORE DELETE ON history
    BEGIN SELECT RAISE(ABORT, 'the facility history is append-only'); END;
"""

ROLES = ("surveyor", "hpo")
REGISTER = {
    "room": ("rooms", "name", Room),
    "apparatus": ("apparatus", "id", Apparatus),
    "instrument": ("instruments", "id", Instrument),
    "equipment": ("equipment", "id", ProtectiveItem),
}
# Every table, in the order exports list them.
TABLES = (
    "settings",
    "rooms",
    "apparatus",
    "instruments",
    "equipment",
    "surveys",
    "holds",
    "incidents",
    "inspections",
    "doses",
    "roles",
    "history",
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_path(journal_path: Path) -> Path:
    """The facility record beside a journal: ``<journal dir>/facility.sqlite``."""
    return journal_path.with_name("facility.sqlite")


class FacilityStore:
    """The facility record in one SQLite file (WAL: the CLI and the daemon may both have it open)."""

    def __init__(self, path: str | Path, *, readonly: bool = False):
        self.path = Path(path)
        try:
            if readonly:
                if not self.path.exists():
                    raise FacilityError(
                        "no facility record here yet (radsurvey facility import or room add)", source=str(self.path)
                    )
                self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.row_factory = sqlite3.Row
            if not readonly:
                self._migrate()
        except sqlite3.DatabaseError as err:
            raise FacilityError(f"cannot open the facility record: {err}", source=str(self.path)) from None

    def _migrate(self) -> None:
        version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise FacilityError(
                f"facility record schema {version} is newer than this radsurvey ({SCHEMA_VERSION})",
                source=str(self.path),
            )
        if version < SCHEMA_VERSION:
            self._conn.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> FacilityStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction: everything in it is kept, or nothing (a refused command changes nothing)."""
        from ..survey.store import write_transaction

        return write_transaction(
            self._conn, lambda err: FacilityError(f"cannot write the facility record: {err}", source=str(self.path))
        )

    @property
    def conn(self) -> sqlite3.Connection:
        return self._conn

    # -- history -------------------------------------------------------------------------------

    @staticmethod
    def log(
        c: sqlite3.Connection,
        *,
        by: str,
        entity: str,
        key: str,
        action: str,
        old: Any = None,
        new: Any = None,
        at: str | None = None,
    ) -> None:
        """Append one change to the history, inside the caller's transaction."""
        c.execute(
            "INSERT INTO history(at, by, entity, key, action, old, new) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at or now_iso(),
                by,
                entity,
                key,
                action,
                None if old is None else json.dumps(old, sort_keys=True, default=str),
                None if new is None else json.dumps(new, sort_keys=True, default=str),
            ),
        )

    def history(self, *, entity: str | None = None, key: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        where, args = [], []
        if entity:
            where.append("entity = ?")
            args.append(entity)
        if key:
            where.append("key = ?")
            args.append(key)
        sql = "SELECT * FROM history" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq LIMIT ?"
        return [_row(r) for r in self._conn.execute(sql, (*args, limit))]

    # -- settings --------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {r["key"]: json.loads(r["value"]) for r in self._conn.execute("SELECT key, value FROM settings")}

    def set_setting(self, c: sqlite3.Connection, key: str, value: Any, *, by: str) -> None:
        row = c.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        old = json.loads(row[0]) if row else None
        if old == value:
            return
        c.execute(
            "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )
        self.log(c, by=by, entity="setting", key=key, action="set", old=old, new=value)

    # -- register ------------------------------------------------------------------------------

    def get(self, entity: str, key: str) -> dict[str, Any] | None:
        table, column, _ = REGISTER[entity]
        row = self._conn.execute(f"SELECT record FROM {table} WHERE {column} = ?", (key,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def all(self, entity: str) -> list[dict[str, Any]]:
        table, column, _ = REGISTER[entity]
        return [json.loads(r[0]) for r in self._conn.execute(f"SELECT record FROM {table} ORDER BY {column}")]

    def put(self, c: sqlite3.Connection, entity: str, record: Any, *, by: str) -> str:
        """Add or change one register record (validated model); returns 'added', 'changed' or 'unchanged'."""
        table, column, _ = REGISTER[entity]
        data = record.model_dump(mode="json")
        key = data[column]
        if entity in ("apparatus", "equipment") and data.get("room") is not None:
            if c.execute("SELECT 1 FROM rooms WHERE name = ?", (data["room"],)).fetchone() is None:
                raise FacilityError(f"{entity} {key}: no room {data['room']!r} in the register", field="room")
        row = c.execute(f"SELECT record FROM {table} WHERE {column} = ?", (key,)).fetchone()
        old = json.loads(row[0]) if row else None
        if old == data:
            return "unchanged"
        text = json.dumps(data, sort_keys=True)
        if table == "apparatus":
            c.execute(
                "INSERT INTO apparatus(id, room, record) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " room = excluded.room, record = excluded.record",
                (key, data["room"], text),
            )
        else:
            c.execute(
                f"INSERT INTO {table}({column}, record) VALUES (?, ?) ON CONFLICT({column}) DO UPDATE SET"
                " record = excluded.record",
                (key, text),
            )
        changed = None if old is None else {k: v for k, v in data.items() if old.get(k) != v}
        self.log(
            c,
            by=by,
            entity=entity,
            key=key,
            action="added" if old is None else "changed",
            old=None if old is None else {k: old.get(k) for k in changed or {}},
            new=data if old is None else changed,
        )
        return "added" if old is None else "changed"

    def require_room(self, room: str) -> dict[str, Any]:
        found = self.get("room", room)
        if found is None:
            known = ", ".join(r["name"] for r in self.all("room")) or "none registered"
            raise FacilityError(f"unknown room {room!r} (rooms: {known})", field="room")
        return found

    # -- roles -----------------------------------------------------------------------------------

    def roles(self, account: str) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT role FROM roles WHERE account = ?", (account,))}

    def accounts(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self._conn.execute("SELECT account, role FROM roles ORDER BY account, role"):
            out.setdefault(r[0], []).append(r[1])
        return out

    def has_hpo(self) -> bool:
        return self._conn.execute("SELECT 1 FROM roles WHERE role = 'hpo'").fetchone() is not None

    # -- reads for the status, the console, the report and exports -------------------------------

    def surveys(self, room: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, room, apparatus, survey_date, conclusion, filed_at, filed_by, source FROM surveys"
        rows = self._conn.execute(
            sql + (" WHERE room = ?" if room else "") + " ORDER BY survey_date, filed_at", (room,) if room else ()
        )
        return [_row(r) for r in rows]

    def survey_document(self, survey_id: str) -> dict[str, Any] | None:
        row = self._conn.execute("SELECT document FROM surveys WHERE id = ?", (survey_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def holds(self, *, active: bool | None = None, room: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if active is True:
            where.append("lifted_at IS NULL")
        elif active is False:
            where.append("lifted_at IS NOT NULL")
        if room:
            where.append("room = ?")
            args.append(room)
        sql = "SELECT * FROM holds" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_row(r) for r in self._conn.execute(sql, args)]

    def incidents(self) -> list[dict[str, Any]]:
        out = []
        for r in self._conn.execute("SELECT * FROM incidents ORDER BY id"):
            d = _row(r)
            d.update(json.loads(d.pop("record")))
            out.append(d)
        return out

    def inspections(self, item: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM inspections" + (" WHERE item = ?" if item else "") + " ORDER BY inspected_on, id"
        return [_row(r) for r in self._conn.execute(sql, (item,) if item else ())]

    def doses(self) -> list[dict[str, Any]]:
        return [_row(r) for r in self._conn.execute("SELECT * FROM doses ORDER BY worker, period_start, id")]

    def table(self, name: str) -> tuple[list[str], list[dict[str, Any]]]:
        """Every row of one table as stored (exports); the column names first."""
        if name not in TABLES:
            raise FacilityError(f"unknown table {name!r}; tables: {', '.join(TABLES)}", field="table")
        cur = self._conn.execute(f"SELECT * FROM {name} ORDER BY rowid")
        columns = [d[0] for d in cur.description]
        return columns, [dict(zip(columns, r, strict=True)) for r in cur]


def _row(r: sqlite3.Row) -> dict[str, Any]:
    return {k: r[k] for k in r.keys()}


def parse_day(text: str, *, field: str, today: date, allow_future: bool = False) -> date:
    """An ISO date from the user; FacilityError naming the field for a bad or future date."""
    try:
        day = date.fromisoformat(str(text))
    except ValueError:
        raise FacilityError(f"{text!r} is not a date (YYYY-MM-DD)", field=field) from None
    if not allow_future and day > today:
        raise FacilityError(f"{day.isoformat()} is in the future (today is {today.isoformat()})", field=field)
    return day
