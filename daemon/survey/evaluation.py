"""The one place where survey sessions meet the protocol's evaluation.

The numbers in every report and every published point are exactly what
``radsurvey.protocols.evaluation.evaluate`` returns; nothing here recomputes them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import SurveyError

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation, SurveyEvaluation

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


def evaluate_document(doc: dict[str, Any], *, source: str | None = None) -> SurveyEvaluation:
    """Parse and evaluate a survey document (the typed result; ``to_dict()`` at the edges that print it)."""
    from radsurvey.protocols.evaluation import evaluate
    from radsurvey.protocols.survey import parse_survey

    survey = parse_survey(evaluable(doc), source or "survey")
    return evaluate(survey)


def evaluate_point(doc: dict[str, Any], point_id: str, *, source: str | None = None) -> PointEvaluation:
    """Evaluate one point of a (possibly unfinished) survey: background + that point only."""
    point = next((p for p in doc["points"] if p["id"] == point_id), None)
    if point is None:
        raise SurveyError(f"no point {point_id!r}", source=source, field="points")
    result = evaluate_document({**doc, "points": [point]}, source=source)
    return result.points[0]
