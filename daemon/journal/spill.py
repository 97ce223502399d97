"""Rows the journal could not commit when it closed (a full or failing disk): spilled, or at least counted.

Nothing is lost silently. When the writer stops with rows it could not commit:

* with ``[journal] spill_dir`` (on another filesystem), they are written there
  as ``{journal name}.spill-run{run}-seq{first}-{last}.jsonl``: one JSON object
  per line, ``{"table": ..., "row": {...}}`` with the row's columns (bytes as
  ``{"base64": ...}``), fsynced, under a temporary name until complete;
* if that is not configured or fails too, the rows are counted with their seq
  range in an error line of the log.

Either way a note (one JSON line: run, rows, first/last seq, the error, the
spill file or null) is appended to ``{journal}.uncommitted`` if the disk allows
it. At the next start the journal records these notes and the spill files in
its table ``uncommitted``, removes the side file after that commit, imports the
spill files back (``daemon/journal/uncommitted.py``) and continues its seqs
above the highest, so a seq is never given twice (the notes still in the side
file count too, should that record fail).
Statements that are not rows (sink cursor moves, acknowledgement answers) are
counted only: a sink then re-publishes from its last durable cursor.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import structlog

from . import times

log = structlog.get_logger("radsurvey.journal")

_SPILL = re.compile(r"\.spill-run(\d+)-seq(\d+)-(\d+)\.jsonl$")


def _file_row(row: dict[str, Any]) -> dict[str, Any]:
    """A queued row as a spill file holds it: times as the journal's text (``ts``), as its views give them."""
    if "t_ms" not in row:
        return row
    out = {k: v for k, v in row.items() if k != "t_ms"}
    out["ts"] = times.ms_to_text(int(row["t_ms"]))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def notes_path(journal: Path) -> Path:
    return journal.with_name(journal.name + ".uncommitted")


def save(journal: Path, spill_dir: Path | None, run_id: int, pending: list[Any], error: str | None) -> Path | None:
    """Spill (or count) what the writer could not commit; returns the spill file, if one was written."""
    rows = [(table, row) for table, row in pending if table not in ("__sql__", "__fn__")]
    statements = len(pending) - len(rows)
    if not rows:
        log.warning("journal statements not committed at close", statements=statements, error=error)
        return None
    seqs = [int(row["seq"]) for _, row in rows]
    first, last = min(seqs), max(seqs)
    spilled: Path | None = None
    spill_error = "no [journal] spill_dir configured"
    if spill_dir is not None:
        target = spill_dir / f"{journal.name}.spill-run{run_id}-seq{first}-{last}.jsonl"
        tmp = target.with_name(target.name + ".tmp")
        try:
            spill_dir.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w", encoding="utf-8") as out:
                for table, row in rows:
                    line = {"table": table, "row": {k: _jsonable(v) for k, v in _file_row(row).items()}}
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
            spilled = target
        except OSError as err:
            spill_error = f"{target}: {err.strerror or err}"
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    if spilled is not None:
        log.error(
            "journal rows not committed; spilled",
            file=str(spilled),
            rows=len(rows),
            first_seq=first,
            last_seq=last,
            statements_not_committed=statements,
            error=error,
        )
    else:
        log.error(
            "journal rows not committed and not spilled: they are lost",
            rows=len(rows),
            first_seq=first,
            last_seq=last,
            statements_not_committed=statements,
            error=error,
            spill_error=spill_error,
        )
    note = {
        "at": times.now_text(),
        "run": run_id,
        "rows": len(rows),
        "first_seq": first,
        "last_seq": last,
        "error": error,
        "spill_file": str(spilled) if spilled is not None else None,
    }
    write_note(journal, json.dumps(note))
    return spilled


_RESERVE = 4096


def reserve(journal: Path) -> None:
    """Keep ``_RESERVE`` bytes of blanks at the end of the notes file, so that a note fits on a full disk.

    Writing over bytes a file already has needs no new blocks: the note of the
    run that fills the disk lands there (``write_note``). Called at start.
    """
    path = notes_path(journal)
    try:
        data = path.read_bytes() if path.exists() else b""
        blank = len(data) - len(data.rstrip(b" \n"))
        if blank < _RESERVE:
            with open(path, "ab") as out:
                out.write(b" " * (_RESERVE - blank))
                out.flush()
                os.fsync(out.fileno())
    except OSError as err:
        log.warning("cannot reserve room for the note of uncommitted rows", file=str(path), error=str(err))


def write_note(journal: Path, line: str) -> None:
    """Write ``line`` over the reserved blanks of the notes file (else append); never raises."""
    path = notes_path(journal)
    body = (line + "\n").encode("utf-8")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0)
            end = len(data.rstrip(b" \n"))
            offset = end + 1 if end else 0  # after the last note's newline
            os.pwrite(fd, body, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as err:
        log.error("cannot write the note of uncommitted rows", file=str(path), error=str(err))


def read_notes(journal: Path) -> list[dict[str, Any]]:
    """The notes of earlier runs' uncommitted rows, oldest first (``status`` shows them)."""
    try:
        lines = notes_path(journal).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    out = []
    for line in lines:
        try:
            note = json.loads(line) if line.strip() else None
        except ValueError:
            continue
        if isinstance(note, dict) and "last_seq" in note:
            out.append(note)
    return out


def uncommitted_top(journal: Path, spill_dir: Path | None) -> int:
    """Log every earlier run's uncommitted rows (notes and spill files); the highest seq they used (0 if none)."""
    top = 0
    noted: set[str] = set()
    try:
        lines = notes_path(journal).read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    for line in lines:
        if not line.strip():
            continue
        try:
            note = json.loads(line)
            last = int(note["last_seq"])
        except (ValueError, KeyError, TypeError):
            continue
        top = max(top, last)
        if note.get("spill_file"):
            noted.add(str(note["spill_file"]))
        log.warning(
            "rows of an earlier run are not in the journal",
            run=note.get("run"),
            rows=note.get("rows"),
            first_seq=note.get("first_seq"),
            last_seq=last,
            spill_file=note.get("spill_file"),
            notes=str(notes_path(journal)),
        )
    if spill_dir is not None and spill_dir.is_dir():
        for file in sorted(spill_dir.glob(f"{journal.name}.spill-run*.jsonl")):
            m = _SPILL.search(file.name)
            if m is None:
                continue
            top = max(top, int(m.group(3)))
            if str(file) not in noted:
                log.warning(
                    "spilled journal rows waiting to be imported",
                    file=str(file),
                    first_seq=int(m.group(2)),
                    last_seq=int(m.group(3)),
                )
    return top
