"""Rows an earlier run could not commit (a full disk), taken into the journal itself.

When a run stops with rows it cannot commit, ``spill.py`` writes
them to a spill file in ``[journal] spill_dir`` or counts them, and leaves a
note in the side file ``{journal}.uncommitted`` (the journal could not take
it). At the next start the writer:

1. records every note and every spill file it finds in the table
   ``uncommitted`` (run, rows, seq range, the error, the spill file), in one
   transaction, and only then removes the side file (``fold``); the seqs
   stay given out for good (``schema.max_seq`` counts them);
2. imports the spill files back (``parse_spill`` + ``Journal.import_spill``):
   each row under its original seq, rows already present skipped (so an
   import can run again), the ``uncommitted`` row updated in the same
   transaction, the file renamed ``*.imported`` after the commit.

``radsurvey journal import-spill`` does step 2 for files given by hand.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from radsurvey.protocols.errors import JournalError

from . import spill as journal_spill
from .schema import SEQ_TABLES, STORED, now_iso

log = structlog.get_logger("radsurvey.journal")

SPILL_NAME = re.compile(r"\.spill-run(\d+)-seq(\d+)-(\d+)\.jsonl$")
IMPORTED_SUFFIX = ".imported"


@dataclass
class Spill:
    """One spill file read back: its rows as the writer appended them (0.1's columns, with seq)."""

    path: Path
    run: int | None
    first_seq: int
    last_seq: int
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        return base64.b64decode(value["base64"], validate=True)
    return value


def parse_spill(path: Path) -> Spill:
    """Read a spill file; one ``JournalError`` naming the file and line for anything that is not a spilled row."""
    m = SPILL_NAME.search(path.name)
    rows: list[tuple[str, dict[str, Any]]] = []
    try:
        lines = path.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise JournalError(f"cannot read spill file: {err}", source=str(path)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            item = json.loads(line)
        except ValueError as err:
            raise JournalError(f"not JSON: {err}", source=where) from None
        if not isinstance(item, dict) or not isinstance(item.get("row"), dict):
            raise JournalError('expected {"table": ..., "row": {...}}', source=where)
        table = item.get("table")
        if table not in SEQ_TABLES:
            raise JournalError(f"table {table!r} is not one of {', '.join(SEQ_TABLES)}", source=where)
        seq = item["row"].get("seq")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise JournalError(f"row.seq {seq!r} is not a positive integer", source=where)
        try:
            row = {str(k): _value(v) for k, v in item["row"].items()}
        except ValueError as err:
            raise JournalError(f"bad base64 value: {err}", source=where) from None
        rows.append((table, row))
    if not rows:
        raise JournalError("spill file holds no rows", source=str(path))
    seqs = [row["seq"] for _, row in rows]
    if len(set(seqs)) != len(seqs):
        raise JournalError("a seq appears twice", source=str(path))
    first, last = min(seqs), max(seqs)
    if m is not None and (int(m.group(2)), int(m.group(3))) != (first, last):
        raise JournalError(
            f"rows hold seq {first}-{last}, the file name says {m.group(2)}-{m.group(3)}", source=str(path)
        )
    return Spill(path, int(m.group(1)) if m else None, first, last, rows)


def spill_files(journal: Path, spill_dir: Path | None) -> list[Path]:
    """The spill files of this journal in ``spill_dir`` not imported yet, oldest seq first."""
    if spill_dir is None or not spill_dir.is_dir():
        return []
    found = [
        (int(m.group(2)), f)
        for f in spill_dir.glob(f"{journal.name}.spill-run*.jsonl")
        if (m := SPILL_NAME.search(f.name))
    ]
    return [f for _, f in sorted(found)]


def present_seqs(conn: sqlite3.Connection, first: int, last: int) -> set[int]:
    """The seqs in ``first..last`` the journal already holds (in any table)."""
    out: set[int] = set()
    for table in SEQ_TABLES:
        stored = STORED.get(table, table)
        out |= {r[0] for r in conn.execute(f"SELECT seq FROM {stored} WHERE seq BETWEEN ? AND ?", (first, last))}
    return out


def record(conn: sqlite3.Connection, note: dict[str, Any]) -> bool:
    """Insert one note into ``uncommitted`` (inside the caller's transaction); False if it was there already."""
    cur = conn.execute(
        "INSERT INTO uncommitted(run, noted_at, recorded_at, rows, first_seq, last_seq, error, spill_file)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (first_seq, last_seq) DO UPDATE SET"
        " spill_file = COALESCE(uncommitted.spill_file, excluded.spill_file),"
        " error = COALESCE(uncommitted.error, excluded.error), run = COALESCE(uncommitted.run, excluded.run),"
        " noted_at = COALESCE(uncommitted.noted_at, excluded.noted_at)",
        (
            note.get("run"),
            note.get("at"),
            now_iso(),
            int(note["rows"]),
            int(note["first_seq"]),
            int(note["last_seq"]),
            note.get("error"),
            note.get("spill_file"),
        ),
    )
    return cur.rowcount > 0


def fold(conn: sqlite3.Connection, journal: Path, spill_dir: Path | None) -> int:
    """Record the side file's notes and the spill files found in ``uncommitted``; then remove the side file.

    One transaction on ``conn`` (outside any other). Returns how many notes
    were new. If the commit fails the side file stays for the next start.
    """
    notes, bad = [], 0
    for n in journal_spill.read_notes(journal):
        try:
            n.update(rows=int(n["rows"]), first_seq=int(n["first_seq"]), last_seq=int(n["last_seq"]))
        except (KeyError, TypeError, ValueError):
            bad += 1  # not a note this radsurvey wrote: the side file is kept for a person to read
            log.error("a note of uncommitted rows cannot be read", file=str(journal_spill.notes_path(journal)), note=n)
            continue
        notes.append(n)
    noted = {(n["first_seq"], n["last_seq"]) for n in notes}
    for file in spill_files(journal, spill_dir):
        m = SPILL_NAME.search(file.name)
        assert m is not None
        key = (int(m.group(2)), int(m.group(3)))
        if key in noted:
            continue
        try:
            rows = sum(1 for line in file.read_text("utf-8").splitlines() if line.strip())
        except (OSError, UnicodeDecodeError):
            rows = key[1] - key[0] + 1
        notes.append(
            {"run": int(m.group(1)), "rows": rows, "first_seq": key[0], "last_seq": key[1], "spill_file": str(file)}
        )
    new = 0
    if not notes:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        for note in notes:
            already = conn.execute(
                "SELECT 1 FROM uncommitted WHERE first_seq = ? AND last_seq = ?",
                (int(note["first_seq"]), int(note["last_seq"])),
            ).fetchone()
            record(conn, note)
            if already is None:
                new += 1
                log.warning(
                    "rows of an earlier run are not in the journal",
                    run=note.get("run"),
                    rows=note.get("rows"),
                    first_seq=note.get("first_seq"),
                    last_seq=note.get("last_seq"),
                    spill_file=note.get("spill_file"),
                    error=note.get("error"),
                    recorded_in="journal table uncommitted",
                )
        conn.execute("COMMIT")
    except sqlite3.Error as err:
        conn.execute("ROLLBACK")
        log.error(
            "cannot record the rows an earlier run could not commit; the note stays in its side file",
            file=str(journal_spill.notes_path(journal)),
            error=str(err),
        )
        return 0
    if bad:
        return new
    try:  # only now: the journal's commit holds every note
        journal_spill.notes_path(journal).unlink(missing_ok=True)
    except OSError as err:
        log.warning("cannot remove the side file of notes (they are in the journal)", error=str(err))
    return new


def mark_imported(conn: sqlite3.Connection, spill: Spill, imported: int) -> None:
    """Inside the import's transaction: the ``uncommitted`` row of this spill says how many rows came back."""
    note = {
        "run": spill.run,
        "rows": len(spill.rows),
        "first_seq": spill.first_seq,
        "last_seq": spill.last_seq,
        "spill_file": str(spill.path),
    }
    record(conn, note)
    conn.execute(
        "UPDATE uncommitted SET imported_rows = imported_rows + ?, imported_at = ?"
        " WHERE first_seq = ? AND last_seq = ?",
        (imported, now_iso(), spill.first_seq, spill.last_seq),
    )


def set_aside(path: Path) -> Path | None:
    """Rename an imported spill file ``*.imported`` (kept, never read again at start)."""
    target = path.with_name(path.name + IMPORTED_SUFFIX)
    try:
        path.replace(target)
    except OSError as err:
        log.warning(
            "imported spill file not renamed (importing it again changes nothing)", file=str(path), error=str(err)
        )
        return None
    return target


def rows(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The recorded notes, oldest seq first (``journal stats``, ``status``)."""
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'uncommitted'").fetchone()
    if not has:
        return []
    out = []
    for r in conn.execute("SELECT * FROM uncommitted ORDER BY first_seq"):
        d = dict(r)
        d["not_in_journal"] = 0 if d["imported_at"] else int(d["rows"])  # an import brings every row back
        out.append(d)
    return out
