"""The one place where survey sessions meet the protocol's evaluation.

The numbers in every report and every published point are exactly what
``radsurvey.protocols.evaluation.evaluate`` returns; nothing here recomputes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import SurveyError

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation, SurveyEvaluation
    from radsurvey.protocols.shielding.room import RoomResult

REPORT_ONLY_KEYS = ("metadata", "id")


def evaluable(doc: dict[str, Any]) -> dict[str, Any]:
    """The survey file without what only sessions and reports use (``metadata``, ``id``).

    Every other field goes to the parser as written, so its warnings are the
    ones ``radsurvey evaluate`` gives on the exported file. The instruments stay:
    readings are judged against the dose-rate range they declare (App. 14 p.32-33).
    """
    out = {k: v for k, v in doc.items() if k not in REPORT_ONLY_KEYS}
    metadata = doc.get("metadata")
    if isinstance(metadata, dict) and metadata.get("instruments"):
        out["metadata"] = {"instruments": metadata["instruments"]}
    return out


def load_design(ref: str | Path, *, source: str | None = None, base: Path | None = None) -> RoomResult:
    """The room's shielding design a survey names (``shielding_design``), calculated.

    A relative path is taken from ``base`` (the survey file's folder), else from the
    working directory. Any problem is one SurveyError naming the survey's field.
    """
    from radsurvey.protocols.errors import ShieldingError
    from radsurvey.protocols.shielding.room import calculate_room, parse_room_text

    path = Path(ref)
    if not path.is_absolute() and base is not None:
        path = base / path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SurveyError(f"{path}: file not found", source=source, field="shielding_design") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SurveyError(f"{path}: cannot read: {err}", source=source, field="shielding_design") from None
    try:
        return calculate_room(parse_room_text(text, str(path)), source=str(path))
    except ShieldingError as err:
        raise SurveyError(str(err), source=source, field="shielding_design") from None


def evaluate_document(doc: dict[str, Any], *, source: str | None = None, base: Path | None = None) -> SurveyEvaluation:
    """Parse and evaluate a survey document (the typed result; ``to_dict()`` at the edges that print it).

    A survey naming its room's ``shielding_design`` is evaluated with it (relative paths
    from ``base``, the survey file's folder, or the working directory).
    """
    from radsurvey.protocols.evaluation import evaluate
    from radsurvey.protocols.survey import parse_survey

    survey = parse_survey(evaluable(doc), source or "survey")
    design = None
    if survey.shielding_design:
        design = load_design(survey.shielding_design, source=source, base=base)
    return evaluate(survey, design=design)


def evaluate_point(doc: dict[str, Any], point_id: str, *, source: str | None = None) -> PointEvaluation:
    """Evaluate one point of a (possibly unfinished) survey: background + that point only."""
    point = next((p for p in doc["points"] if p["id"] == point_id), None)
    if point is None:
        raise SurveyError(f"no point {point_id!r}", source=source, field="points")
    result = evaluate_document({**doc, "points": [point]}, source=source)
    return result.points[0]
