"""Evaluation of a survey against its protocol (DESIGN.md §4.2).

For each point and height: the mean of the readings, the net dose rate after the
background, the dose rate normalised to the standard workload (formula 1); then
the effective dose rate E by the heights present (formulas 2-4), compared with the
room category's DMD_E. The survey fails when any point fails.

The steps are small functions in :mod:`.formulas`, re-exported here for live
pipelines; :func:`evaluate` strings them together for a whole survey document.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import SurveyError
from .formulas import (
    Formula,
    Verdict,
    WorkloadChoice,
    dmd_for,
    effective_dose_rate,
    heights_text,
    mean_uGy_h,
    net_uGy_h,
    normalise,
    relocate,
    select_formula,
    verdict_for,
    workload_for,
)
from .profiles import Formula3Variant, Profile
from .survey import (
    KNOWN_POINT_FIELDS,
    KNOWN_SURVEY_FIELDS,
    Survey,
    SurveyPoint,
    check_survey,
    profile_of,
)

EVALUATION_SCHEMA = "radsurvey.evaluation/1"


@dataclass(frozen=True, slots=True)
class HeightResult:
    """One height of one point, from the readings to the normalised dose rate."""

    height_cm: int
    readings_uGy_h: tuple[float, ...]
    mean_uGy_h: float
    net_uGy_h: float
    normalised_uGy_h: float
    below_background: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "readings_uGy_h": list(self.readings_uGy_h),
            "mean_uGy_h": self.mean_uGy_h,
            "net_uGy_h": self.net_uGy_h,
            "normalised_uGy_h": self.normalised_uGy_h,
            "below_background": self.below_background,
        }


@dataclass(frozen=True, slots=True)
class PointEvaluation:
    """One point: E by the formula its heights call for, against its category's limit."""

    id: str
    room: str
    category: int
    kind: str
    formula: Formula
    heights: tuple[HeightResult, ...]  # ascending height
    effective_dose_rate_uSv_h: float
    limit_uSv_h: float
    ratio: float  # E / limit
    verdict: Verdict
    warnings: tuple[str, ...]  # each "field: message", field relative to the point

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "category": self.category,
            "kind": self.kind,
            "formula": self.formula,
            "heights": {str(h.height_cm): h.to_dict() for h in self.heights},
            "effective_dose_rate_uSv_h": self.effective_dose_rate_uSv_h,
            "limit_uSv_h": self.limit_uSv_h,
            "ratio": self.ratio,
            "verdict": self.verdict,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True, slots=True)
class SurveyEvaluation:
    """A whole survey evaluated; :meth:`to_dict` is the ``radsurvey.evaluation/1`` document."""

    protocol: str
    apparatus: str
    workload_mA_min_per_week: float
    workload_source: str
    background_uGy_h: float | None  # the mean subtracted; None when the meter compensates
    background_compensated: bool
    formula3: Formula3Variant
    verdict: Verdict
    warnings: tuple[str, ...]  # survey-wide, then every point's prefixed with points[id]
    points: tuple[PointEvaluation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": EVALUATION_SCHEMA,
            "protocol": self.protocol,
            "apparatus": self.apparatus,
            "workload_mA_min_per_week": self.workload_mA_min_per_week,
            "workload_source": self.workload_source,
            "background_uGy_h": self.background_uGy_h,
            "background_compensated": self.background_compensated,
            "formula3": self.formula3,
            "verdict": self.verdict,
            "warnings": list(self.warnings),
            "points": [p.to_dict() for p in self.points],
        }


def evaluate(
    survey: Survey,
    profile: Profile | None = None,
    *,
    formula3: Formula3Variant | None = None,
) -> SurveyEvaluation:
    """Evaluate every point of ``survey``; ``formula3`` overrides the survey's option."""
    profile = profile if profile is not None else profile_of(survey)
    if formula3 is not None and formula3 != survey.options.formula3:
        options = survey.options.model_copy(update={"formula3": formula3})
        survey = survey.model_copy(update={"options": options})
    # parse_survey checked the survey against its own profile; this may be another
    # profile, another formula (3) variant, or a Survey built without parse_survey.
    check_survey(survey, profile)
    variant = survey.options.formula3
    try:
        workload = workload_for(profile, survey.apparatus, survey.workload_mA_min_per_week)
        background = _background_mean(survey)
    except SurveyError as err:
        raise relocate(err, source=survey.source) from None
    points = tuple(_evaluate_point(survey, point, profile, workload, background, variant) for point in survey.points)
    return SurveyEvaluation(
        protocol=profile.id,
        apparatus=survey.apparatus,
        workload_mA_min_per_week=workload.workload_mA_min_per_week,
        workload_source=workload.source,
        background_uGy_h=background,
        background_compensated=survey.background_compensated,
        formula3=variant,
        verdict="fail" if any(p.verdict == "fail" for p in points) else "pass",
        warnings=(*_survey_warnings(survey, profile, workload), *_point_warnings(points)),
        points=points,
    )


def _background_mean(survey: Survey) -> float | None:
    if survey.background_compensated:
        return None
    try:
        return mean_uGy_h(survey.background_uGy_h)
    except SurveyError as err:
        raise relocate(err, prefix="background_uGy_h") from None


def _evaluate_point(
    survey: Survey,
    point: SurveyPoint,
    profile: Profile,
    workload: WorkloadChoice,
    background_uGy_h: float | None,
    formula3: Formula3Variant,
) -> PointEvaluation:
    try:
        heights = tuple(
            _evaluate_height(height, point, profile, workload, background_uGy_h) for height in point.heights_cm
        )
        normalised = {h.height_cm: h.normalised_uGy_h for h in heights}
        formula, effective = effective_dose_rate(normalised, formula3, profile=profile)
        limit = dmd_for(profile, point.category)
    except SurveyError as err:
        raise relocate(err, prefix=f"points[{point.id}]", source=survey.source) from None
    return PointEvaluation(
        id=point.id,
        room=point.room,
        category=point.category,
        kind=point.kind,
        formula=formula,
        heights=heights,
        effective_dose_rate_uSv_h=effective,
        limit_uSv_h=limit,
        ratio=effective / limit,
        verdict=verdict_for(effective, limit),
        warnings=tuple(_warnings_for_point(point, heights, profile, background_uGy_h)),
    )


def _evaluate_height(
    height_cm: int,
    point: SurveyPoint,
    profile: Profile,
    workload: WorkloadChoice,
    background_uGy_h: float | None,
) -> HeightResult:
    readings = point.readings_uGy_h[height_cm]
    try:
        mean = mean_uGy_h(readings)
        net, below = net_uGy_h(mean, background_uGy_h)
        normalised = normalise(net, point.anode_current_mA, workload.workload_mA_min_per_week, profile=profile)
    except SurveyError as err:
        field = err.field or f"readings_uGy_h.{height_cm}"
        raise SurveyError(err.message, field=field) from None
    return HeightResult(height_cm, tuple(readings), mean, net, normalised, below)


def _survey_warnings(survey: Survey, profile: Profile, workload: WorkloadChoice) -> Iterable[str]:
    yield from workload.warnings
    if survey.background_compensated and survey.background_uGy_h:
        yield "background_uGy_h: ignored, the meter compensates background"
    else:
        yield from _out_of_range("background_uGy_h", survey.background_uGy_h, profile)
    yield from _near_misses(survey.metadata, KNOWN_SURVEY_FIELDS)


def _warnings_for_point(
    point: SurveyPoint,
    heights: Sequence[HeightResult],
    profile: Profile,
    background_uGy_h: float | None,
) -> Iterable[str]:
    kind = profile.point_kind(point.kind)
    if kind is not None and kind.heights_cm and set(kind.heights_cm) != set(point.heights_cm):
        expected = heights_text(kind.heights_cm)
        yield (
            f"kind: {point.kind!r} points are measured at {expected} ({kind.source}),"
            f" got {heights_text(point.heights_cm)}"
        )
    for height in heights:
        field = f"readings_uGy_h.{height.height_cm}"
        yield from _out_of_range(field, height.readings_uGy_h, profile)
        if height.below_background:
            yield (
                f"{field}: mean {height.mean_uGy_h:g} uGy/h is below the background"
                f" {background_uGy_h:g} uGy/h; net dose rate set to 0"
            )
    yield from _near_misses(point.metadata, KNOWN_POINT_FIELDS)


def _point_warnings(points: Iterable[PointEvaluation]) -> Iterable[str]:
    for point in points:
        for warning in point.warnings:
            yield f"points[{point.id}].{warning}"


def _out_of_range(field: str, readings: Sequence[float], profile: Profile) -> Iterable[str]:
    low = profile.instrument.dose_rate_min_uGy_h
    high = profile.instrument.dose_rate_max_uGy_h
    outside = sum(1 for r in readings if not low <= r <= high)
    if outside:
        yield (
            f"{field}: {outside} of {len(readings)} readings outside {low:g}-{high:g} uGy/h,"
            f" the range the instrument must cover ({profile.instrument.source})"
        )


def _near_misses(metadata: Mapping[str, Any], known: Sequence[str]) -> Iterable[str]:
    """Unknown fields that look like a misspelt known one (they would be ignored silently)."""
    for name in metadata:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            yield f"{name}: unknown field kept as metadata; did you mean {close[0]!r}?"


__all__ = [
    "EVALUATION_SCHEMA",
    "Formula",
    "HeightResult",
    "PointEvaluation",
    "SurveyEvaluation",
    "Verdict",
    "WorkloadChoice",
    "dmd_for",
    "effective_dose_rate",
    "evaluate",
    "mean_uGy_h",
    "net_uGy_h",
    "normalise",
    "select_formula",
    "verdict_for",
    "workload_for",
]
