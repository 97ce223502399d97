"""Survey sessions in the journal: every reading is committed the moment it is taken.

A session is one row of ``surveys`` (the header: protocol, apparatus, options,
metadata), its point definitions (``survey_point_specs``), the readings as they
were captured (``survey_readings``; a retake marks readings ``discarded``, never
deletes them) and the evaluated points (``survey_points``, a SEQ table that the
MQTT and InfluxDB sinks publish).

Each write is its own ``BEGIN IMMEDIATE ... COMMIT`` with ``synchronous=FULL``,
so a crash, SIGKILL or dead battery loses at most the reading being typed. The
process running a survey owns the journal file: do not point a running daemon
at the same file.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import JournalError, SurveyError

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation

from ..journal import connect, max_seq, migrate, now_iso
from .metadata import document_metadata, parse_metadata

SURVEY_SCHEMA = "radsurvey.survey/1"
STATUSES = ("open", "finished")
BACKGROUND = ""  # the ``point`` of background readings


def default_journal_path(override: Path | None = None) -> Path:
    """``--journal``, else ``$RADSURVEY_SURVEY_JOURNAL``, else ``$XDG_DATA_HOME/radsurvey/surveys.sqlite``."""
    if override is not None:
        return override
    env = os.environ.get("RADSURVEY_SURVEY_JOURNAL")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "radsurvey" / "surveys.sqlite"


@dataclass
class StoredReading:
    id: int
    point: str
    height_cm: int | None
    ts: str
    value_uGy_h: float
    source: str
    unit: str
    raw: str
    discarded: bool


@dataclass
class SurveySession:
    """One survey as stored: header, point definitions in order, every reading."""

    id: str
    header: dict[str, Any]
    status: str
    created_at: str
    updated_at: str
    points: list[dict[str, Any]] = field(default_factory=list)
    readings: list[StoredReading] = field(default_factory=list)

    def kept(self, point: str, height_cm: int | None = None) -> list[float]:
        """Readings in use (not discarded) at a point and height, in capture order."""
        return [
            r.value_uGy_h
            for r in self.readings
            if not r.discarded and r.point == point and (point == BACKGROUND or r.height_cm == height_cm)
        ]

    @property
    def background(self) -> list[float]:
        return self.kept(BACKGROUND)

    def point(self, point_id: str) -> dict[str, Any] | None:
        return next((p for p in self.points if p["id"] == point_id), None)

    @property
    def metadata(self) -> dict[str, Any]:
        """The stored metadata as it is (empty if the header holds none or no object)."""
        meta = self.header.get("metadata")
        return meta if isinstance(meta, dict) else {}

    def problems(self) -> list[str]:
        """What is wrong with the stored session (a row written by an older radsurvey), one line each."""
        problem = _metadata_problem(self.id, self.header)
        return [problem] if problem else []

    def document(self) -> dict[str, Any]:
        """The survey file (schema radsurvey.survey/1) with the readings in use."""
        h = self.header
        points = []
        for spec in self.points:
            readings: dict[str, list[float]] = {}
            for height in spec.get("heights_cm", []):
                values = self.kept(spec["id"], height)
                if values:
                    readings[str(height)] = values
            p = {k: v for k, v in spec.items() if k != "heights_cm" and v is not None}
            p["readings_uGy_h"] = readings
            points.append(p)
        doc: dict[str, Any] = {
            "schema": SURVEY_SCHEMA,
            "id": self.id,
            "protocol": h.get("protocol", "kz-2008-303"),
            "apparatus": h.get("apparatus"),
            "workload_mA_min_per_week": h.get("workload_mA_min_per_week"),
            **(
                {"apparatus_max_voltage_kV": h["apparatus_max_voltage_kV"]}
                if h.get("apparatus_max_voltage_kV") is not None
                else {}
            ),
            **({"shielding_design": h["shielding_design"]} if h.get("shielding_design") else {}),
            "background_compensated": bool(h.get("background_compensated", False)),
            "background_uGy_h": self.background,
            "options": dict(h.get("options") or {"formula3": "literal"}),
            "points": points,
            "metadata": dict(h["metadata"]) if isinstance(h.get("metadata"), dict) else h.get("metadata") or {},
        }
        times = [r.ts for r in self.readings if not r.discarded and r.source != "file"]
        if times and isinstance(doc["metadata"], dict):
            doc["metadata"]["measured_from"], doc["metadata"]["measured_to"] = min(times), max(times)
        return doc


@contextmanager
def write_transaction(
    conn: sqlite3.Connection, cannot_write: Callable[[sqlite3.Error], Exception]
) -> Iterator[sqlite3.Connection]:
    """One write transaction of a database of its own (this store, the facility record): all of it, or nothing.

    ``cannot_write(err)`` is the error raised when the transaction cannot even begin (a locked or read-only file).
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as err:
        raise cannot_write(err) from None
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class SurveyStore:
    """Survey sessions in one journal file (this process is its only writer)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn = connect(self.path, synchronous="full")
        migrate(self._conn, self.path)
        self._point_listeners: list[Callable[[int], None]] = []

    def add_point_listener(self, callback: Callable[[int], None]) -> None:
        """``callback(seq)`` after an evaluated point is committed (e.g. a live publisher)."""
        self._point_listeners.append(callback)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SurveyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return write_transaction(
            self._conn, lambda err: JournalError(f"cannot write survey: {err}", source=str(self.path))
        )

    # -- sessions -------------------------------------------------------------------

    def new_id(self) -> str:
        day = datetime.now(UTC).strftime("%Y%m%d")
        n = self._conn.execute("SELECT COUNT(*) FROM surveys WHERE id LIKE ?", (f"{day}-%",)).fetchone()[0]
        while True:
            n += 1
            candidate = f"{day}-{n:02d}"
            if not self.exists(candidate):
                return candidate

    def exists(self, survey_id: str) -> bool:
        return self._conn.execute("SELECT 1 FROM surveys WHERE id = ?", (survey_id,)).fetchone() is not None

    def create(self, header: dict[str, Any], *, survey_id: str | None = None) -> str:
        survey_id = survey_id or self.new_id()
        if self.exists(survey_id):
            raise SurveyError(f"survey {survey_id!r} already exists", source=str(self.path))
        now = now_iso()
        with self._tx() as c:
            c.execute(
                "INSERT INTO surveys(id, metadata, status, created_at, updated_at) VALUES (?, ?, 'open', ?, ?)",
                (survey_id, json.dumps(header, default=str), now, now),
            )
        return survey_id

    def update_header(self, survey_id: str, header: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE surveys SET metadata = ?, updated_at = ? WHERE id = ?",
                (json.dumps(header, default=str), now_iso(), survey_id),
            )

    def add_warning(self, survey_id: str, text: str) -> bool:
        """Record a warning in the survey's metadata (once); True if it is new."""
        session = self.get(survey_id)
        meta = dict(session.metadata)
        warnings = list(meta.get("warnings") or []) if isinstance(meta.get("warnings"), list) else []
        if text in warnings:
            return False
        meta["warnings"] = [*warnings, text]
        self.update_header(survey_id, {**session.header, "metadata": meta})
        return True

    def set_status(self, survey_id: str, status: str) -> None:
        if status not in STATUSES:
            raise SurveyError(f"unknown status {status!r}", field="status")
        with self._tx() as c:
            c.execute(
                "UPDATE surveys SET status = ?, updated_at = ? WHERE id = ?",
                (status, now_iso(), survey_id),
            )

    def list_surveys(self) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT s.id, s.status, s.created_at, s.updated_at, s.metadata,"
            " (SELECT COUNT(*) FROM survey_point_specs p WHERE p.survey = s.id) AS points,"
            " (SELECT COUNT(*) FROM survey_readings r WHERE r.survey = s.id AND r.discarded = 0) AS readings"
            " FROM surveys s ORDER BY s.created_at"
        ).fetchall()
        out = []
        for r in rows:
            header, problem = _load_header(r["id"], r["metadata"])
            problem = problem or _metadata_problem(r["id"], header)
            meta = header.get("metadata")
            facility = meta.get("facility") if isinstance(meta, dict) else None
            facility = facility if isinstance(facility, dict) else {}
            out.append(
                {
                    "id": r["id"],
                    "status": r["status"],
                    "created_at": r["created_at"],
                    "updated_at": r["updated_at"],
                    "facility": str(facility.get("name") or ""),
                    "room": str(facility.get("room") or ""),
                    "apparatus": header.get("apparatus"),
                    "points": r["points"],
                    "readings": r["readings"],
                    "problem": problem or None,
                }
            )
        return out

    def get(self, survey_id: str) -> SurveySession:
        row = self._conn.execute("SELECT * FROM surveys WHERE id = ?", (survey_id,)).fetchone()
        if row is None:
            known = ", ".join(s["id"] for s in self.list_surveys()[-5:]) or "none"
            raise SurveyError(f"no survey {survey_id!r} in this journal (latest: {known})", source=str(self.path))
        header, problem = _load_header(survey_id, row["metadata"])
        if problem:
            raise SurveyError(problem, source=str(self.path))
        session = SurveySession(
            id=row["id"],
            header=header,
            status=row["status"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )
        session.points = [
            json.loads(r["spec"])
            for r in self._conn.execute(
                "SELECT spec FROM survey_point_specs WHERE survey = ? ORDER BY ord", (survey_id,)
            )
        ]
        session.readings = [
            StoredReading(
                id=r["id"],
                point=r["point"],
                height_cm=r["height_cm"],
                ts=r["ts"],
                value_uGy_h=r["value_uGy_h"],
                source=r["source"],
                unit=r["unit"],
                raw=r["raw"],
                discarded=bool(r["discarded"]),
            )
            for r in self._conn.execute("SELECT * FROM survey_readings WHERE survey = ? ORDER BY id", (survey_id,))
        ]
        return session

    def delete(self, survey_id: str) -> None:
        self.get(survey_id)
        with self._tx() as c:
            for table in ("survey_readings", "survey_point_specs"):
                c.execute(f"DELETE FROM {table} WHERE survey = ?", (survey_id,))
            c.execute("DELETE FROM surveys WHERE id = ?", (survey_id,))
        # survey_points rows stay: sinks may not have published them yet, and
        # retention removes acknowledged rows.

    # -- points and readings ----------------------------------------------------------

    def add_point(self, survey_id: str, spec: dict[str, Any]) -> None:
        with self._tx() as c:
            if c.execute(
                "SELECT 1 FROM survey_point_specs WHERE survey = ? AND point = ?",
                (survey_id, spec["id"]),
            ).fetchone():
                raise SurveyError(f"point {spec['id']!r} already exists", field=f"points[{spec['id']}]")
            ord_ = c.execute(
                "SELECT COALESCE(MAX(ord), 0) + 1 FROM survey_point_specs WHERE survey = ?",
                (survey_id,),
            ).fetchone()[0]
            c.execute(
                "INSERT INTO survey_point_specs(survey, point, ord, spec, created_at) VALUES (?, ?, ?, ?, ?)",
                (survey_id, spec["id"], ord_, json.dumps(spec), now_iso()),
            )
            c.execute("UPDATE surveys SET updated_at = ? WHERE id = ?", (now_iso(), survey_id))

    def update_point(self, survey_id: str, spec: dict[str, Any]) -> None:
        """Replace a point's definition (a correction on resume); its readings are untouched."""
        with self._tx() as c:
            row = c.execute(
                "SELECT spec FROM survey_point_specs WHERE survey = ? AND point = ?", (survey_id, spec["id"])
            ).fetchone()
            old = json.loads(row[0]) if row else {}
            c.execute(
                "UPDATE survey_point_specs SET spec = ? WHERE survey = ? AND point = ?",
                (json.dumps(spec), survey_id, spec["id"]),
            )
            c.execute("UPDATE surveys SET updated_at = ? WHERE id = ?", (now_iso(), survey_id))
            at = now_iso()
            for key in sorted(set(old) | set(spec)):
                if old.get(key) != spec.get(key):
                    entry = {"at": at, "action": "edited", "point": spec["id"], "field": key}
                    self._audit(c, survey_id, {**entry, "old": old.get(key), "new": spec.get(key)})

    def add_reading(
        self,
        survey_id: str,
        *,
        point: str,
        height_cm: int | None,
        value_uGy_h: float,
        source: str,
        unit: str = "uGy/h",
        raw: str = "",
        ts: str | None = None,
    ) -> int:
        """Commit one reading now (fsync'd); returns its row id."""
        with self._tx() as c:
            cur = c.execute(
                "INSERT INTO survey_readings(survey, point, height_cm, ts, value_uGy_h, source, unit, raw)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    survey_id,
                    point,
                    height_cm,
                    ts or now_iso(),
                    float(value_uGy_h),
                    source,
                    unit,
                    raw,
                ),
            )
            return int(cur.lastrowid or 0)

    def discard(self, survey_id: str, *, point: str, height_cm: int | None) -> int:
        """Mark the readings at a point/height as discarded (a retake); returns how many.

        The retake is recorded in the metadata's ``audit`` (when, which readings), in
        the same transaction, so the report's annex shows it.
        """
        where = "survey = ? AND point = '' AND discarded = 0"
        args: tuple[Any, ...] = (survey_id,)
        if point != BACKGROUND:
            where = "survey = ? AND point = ? AND height_cm = ? AND discarded = 0"
            args = (survey_id, point, height_cm)
        with self._tx() as c:
            rows = c.execute(f"SELECT ts, value_uGy_h FROM survey_readings WHERE {where} ORDER BY id", args).fetchall()
            cur = c.execute(f"UPDATE survey_readings SET discarded = 1 WHERE {where}", args)
            if rows:
                self._audit(
                    c,
                    survey_id,
                    {
                        "at": now_iso(),
                        "action": "discarded",
                        "point": point,
                        "height_cm": None if point == BACKGROUND else height_cm,
                        "readings_uGy_h": [r[1] for r in rows],
                        "read_at": [r[0] for r in rows],
                    },
                )
            return cur.rowcount

    def _audit(self, c: sqlite3.Connection, survey_id: str, entry: dict[str, Any]) -> None:
        """Append ``entry`` to the header's ``metadata.audit`` inside the caller's transaction."""
        row = c.execute("SELECT metadata FROM surveys WHERE id = ?", (survey_id,)).fetchone()
        header, problem = _load_header(survey_id, row[0] if row else "{}")
        if problem or not isinstance(header.get("metadata"), dict):
            return  # an unreadable header is left as it is; the readings keep their flag
        meta = header["metadata"]
        meta["audit"] = [*(meta.get("audit") if isinstance(meta.get("audit"), list) else []), entry]
        c.execute(
            "UPDATE surveys SET metadata = ?, updated_at = ? WHERE id = ?",
            (json.dumps(header, default=str), now_iso(), survey_id),
        )

    def record_point(self, survey_id: str, evaluated: PointEvaluation) -> int | None:
        """Append an evaluated point to ``survey_points`` (journal-wide seq) unless unchanged."""
        payload = {"survey": survey_id, **evaluated.to_dict()}
        text = json.dumps(payload, sort_keys=True, default=str)
        with self._tx() as c:
            last = c.execute(
                "SELECT payload FROM survey_points WHERE survey = ? AND point = ? ORDER BY seq DESC LIMIT 1",
                (survey_id, evaluated.id),
            ).fetchone()
            if last is not None and last[0] == text:
                return None
            seq = max_seq(c) + 1
            c.execute(
                "INSERT INTO survey_points(seq, ts, survey, point, room_category, formula, effective_uSv_h,"
                " limit_uSv_h, ratio, verdict, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    now_iso(),
                    survey_id,
                    evaluated.id,
                    evaluated.category,
                    evaluated.formula,
                    evaluated.effective_uSv_h,
                    evaluated.limit_uSv_h,
                    evaluated.ratio,
                    evaluated.verdict,
                    text,
                ),
            )
        for callback in self._point_listeners:
            callback(seq)
        return seq

    def latest_points(self, survey_id: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT payload FROM survey_points WHERE seq IN"
            " (SELECT MAX(seq) FROM survey_points WHERE survey = ? GROUP BY point) ORDER BY seq",
            (survey_id,),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- files --------------------------------------------------------------------------

    def import_document(
        self,
        doc: dict[str, Any],
        *,
        survey_id: str | None = None,
        status: str = "finished",
        source: str | None = None,
    ) -> str:
        """Store a survey file as a session (readings marked ``source='file'``).

        The metadata is validated first: a file with a bad field is refused whole.
        """
        header = header_from_document(doc, source=source)
        survey_id = survey_id or doc.get("id") or None
        if survey_id and self.exists(survey_id):
            survey_id = None  # keep the stored one; the import gets a fresh id
        sid = self.create(header, survey_id=survey_id)
        ts = now_iso()
        for value in doc.get("background_uGy_h") or []:
            self.add_reading(
                sid,
                point=BACKGROUND,
                height_cm=None,
                value_uGy_h=float(value),
                source="file",
                ts=ts,
            )
        for p in doc.get("points") or []:
            readings = p.get("readings_uGy_h") or {}
            spec = {k: v for k, v in p.items() if k != "readings_uGy_h"}
            spec["heights_cm"] = [int(h) for h in readings]
            self.add_point(sid, spec)
            for height, values in readings.items():
                for value in values:
                    self.add_reading(
                        sid,
                        point=p["id"],
                        height_cm=int(height),
                        value_uGy_h=float(value),
                        source="file",
                        ts=ts,
                    )
        self.set_status(sid, status)
        return sid


def header_from_document(doc: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """A session header from a survey file; its metadata validated (SurveyError naming the field)."""
    return {
        "protocol": doc.get("protocol", "kz-2008-303"),
        "apparatus": doc.get("apparatus"),
        "workload_mA_min_per_week": doc.get("workload_mA_min_per_week"),
        "apparatus_max_voltage_kV": doc.get("apparatus_max_voltage_kV"),
        "shielding_design": doc.get("shielding_design"),  # the room's design file (docs/shielding.md)
        "background_compensated": bool(doc.get("background_compensated", False)),
        "options": dict(doc.get("options") or {"formula3": "literal"}),
        "metadata": document_metadata(doc, source=source).model_dump(mode="json"),
    }


def _metadata_problem(survey_id: str, header: dict[str, Any]) -> str:
    """Why a stored header's metadata does not validate, or ''."""
    try:
        parse_metadata(header.get("metadata"), source=f"survey {survey_id}")
    except SurveyError as err:
        return str(err)
    return ""


def _load_header(survey_id: str, text: str) -> tuple[dict[str, Any], str]:
    """A stored header and, if it is unreadable, why (the row itself is left as it is)."""
    try:
        header = json.loads(text)
    except (TypeError, ValueError):
        return {}, f"survey {survey_id}: the stored header is not valid JSON"
    if not isinstance(header, dict):
        return {}, f"survey {survey_id}: the stored header is not an object"
    return header, ""
