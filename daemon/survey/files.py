"""Survey files (schema radsurvey.survey/1) as JSON or TOML, and new sessions from them."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import SurveyError

from .metadata import TechnicianProfile, apply_profile, check_instruments, local_timezone, parse_metadata
from .store import SURVEY_SCHEMA, SurveyStore, header_from_document

# Bounds of a survey file (our choices, far above any real survey: a room has tens of points, each a few
# readings): a larger file is refused in one line before anything is stored or evaluated.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_POINTS = 1000
MAX_READINGS = 1000  # per height, and the background
MAX_TEXT = 4000  # characters of any one text field


def check_bounds(data: Any, source: str | None = None, path: str = "") -> None:
    """Refuse a document whose lists or texts exceed the bounds above, naming the field."""
    if isinstance(data, str):
        if len(data) > MAX_TEXT:
            raise SurveyError(f"text of {len(data)} characters; at most {MAX_TEXT}", source=source, field=path or None)
        return
    if isinstance(data, dict):
        for key, value in data.items():
            check_bounds(value, source, f"{path}.{key}" if path else str(key))
        return
    if isinstance(data, list):
        limit = MAX_POINTS if path == "points" else MAX_READINGS
        if len(data) > limit:
            what = "points" if path == "points" else "values"
            raise SurveyError(f"{len(data)} {what}; at most {limit}", source=source, field=path or None)
        for i, value in enumerate(data):
            check_bounds(value, source, f"{path}[{i}]")


def read_survey_file(path: Path) -> dict[str, Any]:
    """A survey or plan file, JSON or TOML by extension (JSON if unsure), within the bounds above."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise SurveyError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    if size > MAX_FILE_BYTES:
        raise SurveyError(
            f"file of {size / 1e6:.1f} MB; a survey file is at most {MAX_FILE_BYTES / 1e6:.1f} MB", source=str(path)
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise SurveyError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise SurveyError(
            f"not valid {'TOML' if path.suffix.lower() == '.toml' else 'JSON'}: {err}",
            source=str(path),
        ) from None
    if not isinstance(data, dict):
        raise SurveyError("a survey file is an object/table at the top level", source=str(path))
    check_bounds(data, str(path))
    schema = data.get("schema", SURVEY_SCHEMA)
    if schema != SURVEY_SCHEMA:
        raise SurveyError(
            f"unsupported schema {schema!r}; expected {SURVEY_SCHEMA!r}",
            source=str(path),
            field="schema",
        )
    design = data.get("shielding_design")
    if isinstance(design, str) and design and not Path(design).is_absolute():
        data["shielding_design"] = str(path.resolve().parent / design)  # the room file sits beside the survey file
    return data


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def dump_survey(doc: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "toml":
        import tomli_w

        return tomli_w.dumps(_drop_none(json.loads(json.dumps(doc, default=str))))
    raise SurveyError(f"unknown format {fmt!r}; use json or toml", field="format")


# What a survey records about its own sitting: an exported survey used as a plan must not carry
# these into the new protocol (issue 22: another survey's retakes, and a meter never connected).
HISTORY_FIELDS = ("audit", "warnings", "measured_from", "measured_to")


def plan_document(doc: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A survey file as a plan: facility, room, apparatus, instruments and points, without its history.

    Returns the plan and what was left out ("3 audit entries", ...) so the user can be told.
    """
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        return doc, []
    left_out = []
    if audit := metadata.get("audit"):
        left_out.append(f"its audit trail ({len(audit)} {'entry' if len(audit) == 1 else 'entries'})")
    if warnings := metadata.get("warnings"):
        left_out.append(f"its {len(warnings)} {'warning' if len(warnings) == 1 else 'warnings'}")
    if metadata.get("measured_from") or metadata.get("measured_to"):
        left_out.append("its measuring times")
    kept = {k: v for k, v in metadata.items() if k not in HISTORY_FIELDS}
    return {**doc, "metadata": kept}, left_out


def new_session(
    store: SurveyStore,
    doc: dict[str, Any],
    *,
    profile: TechnicianProfile,
    strict: bool = False,
    today: date | None = None,
    survey_id: str | None = None,
    source: str | None = None,
) -> str:
    """Create a session from a (partial) survey file: profile defaults, instrument check.

    The file is a plan: its history (audit trail, warnings, measuring times) stays with the survey
    it came from (:func:`plan_document`).
    """
    from radsurvey.protocols.profiles import get_profile

    doc, _ = plan_document(doc)
    header = header_from_document(doc, source=source)
    if not header.get("apparatus"):
        raise SurveyError("apparatus (workload table key) is required", source=source, field="apparatus")
    protocol = get_profile(header["protocol"])
    if protocol.workload(header["apparatus"]) is None and header.get("workload_mA_min_per_week") is None:
        keys = ", ".join(w.key for w in protocol.workloads)
        raise SurveyError(
            f"unknown apparatus {header['apparatus']!r} and no workload_mA_min_per_week given; known: {keys}",
            source=source,
            field="apparatus",
        )
    meta = apply_profile(parse_metadata(header["metadata"], source=source), profile)
    today = today or datetime.now(UTC).date()
    if meta.survey_date is None:
        meta = meta.model_copy(update={"survey_date": today})
    if not meta.timezone:
        meta = meta.model_copy(update={"timezone": local_timezone()})
    problems = check_instruments(meta, protocol.instrument, on=meta.survey_date or today)
    if problems and strict:
        raise SurveyError(
            "instrument check failed (--strict): " + "; ".join(problems),
            source=source,
            field="metadata.instruments",
        )
    meta = meta.model_copy(update={"warnings": [*meta.warnings, *(p for p in problems if p not in meta.warnings)]})
    header["metadata"] = meta.model_dump(mode="json")
    return store.create(header, survey_id=survey_id)
