"""Evaluation of a survey against its protocol (docs/architecture.md#evaluation).

For each point and height: the mean of the readings, the net dose rate after the
background, the dose rate normalised to the standard workload (formula 1); then
the effective dose rate E by the heights present (formulas 2-4), compared with the
room category's DMD_E. The survey fails when any point fails.

The steps are small functions in :mod:`.formulas`, re-exported here for live
pipelines; :func:`evaluate` strings them together for a whole survey document.

Measured heights are mapped to their nominal heights (App. 14 p.21, ±20 cm) and
the formulas use the nominal ones. The arithmetic is exact (fractions of the
decimals written in the file); the result carries floats rounded from the exact
values, and the verdict is judged on the exact E. A point with a design
attenuation factor K (p.25, dental rooms next to dwellings) is judged on E / K.
The beam conditions of p.15 (I >= 2 mA in fluoroscopy, the Table 1 anode voltage)
are warnings naming the paragraph, errors with ``strict``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .errors import SurveyError
from .formulas import (
    Formula,
    Verdict,
    WorkloadChoice,
    dmd_for,
    effective_dose_rate,
    exact,
    exact_effective,
    exact_mean,
    exact_net,
    exact_normalise,
    heights_text,
    mean_uGy_h,
    net_uGy_h,
    nominal_heights,
    normalise,
    relocate,
    rounded,
    select_formula,
    verdict_for,
    workload_for,
)
from .profiles import Formula3Variant, Profile
from .shielding.room import RoomResult
from .shielding.survey_link import DesignAtPoint, design_at_point
from .survey import (
    DWELLING_CATEGORY,
    KNOWN_POINT_FIELDS,
    KNOWN_SURVEY_FIELDS,
    Survey,
    SurveyPoint,
    check_survey,
    profile_of,
)

EVALUATION_SCHEMA = "radsurvey.evaluation/1"


class Finding(str):
    """A warning: its human text (the string itself), a machine ``code``, the ``paragraph`` and ``field``.

    ``field`` is the path the text starts with (``points[S1].readings_uGy_h.120``);
    ``paragraph`` is the regulation's paragraph (``p.15``) or None for radsurvey's own checks.
    """

    code: str
    paragraph: str | None
    field: str | None

    def __new__(cls, text: str, code: str, paragraph: str | None = None, field: str | None = None) -> Finding:
        self = super().__new__(cls, f"{field}: {text}" if field else text)
        self.code, self.paragraph, self.field = code, paragraph, field
        return self

    def within(self, prefix: str) -> Finding:
        """The same finding, its field placed inside ``prefix`` (``points[S1]``)."""
        text = self[len(self.field) + 2 :] if self.field else str(self)
        return Finding(text, self.code, self.paragraph, f"{prefix}.{self.field}" if self.field else prefix)

    def to_dict(self) -> dict[str, Any]:
        return {"text": str(self), "code": self.code, "paragraph": self.paragraph, "field": self.field}


@dataclass(frozen=True, slots=True)
class HeightResult:
    """One height of one point, from the readings to the normalised dose rate.

    ``height_cm`` is the height measured, ``nominal_height_cm`` the one the formulas use.
    The float fields are rounded from the exact values kept in ``exact``.
    """

    height_cm: int
    readings_uGy_h: tuple[float, ...]
    mean_uGy_h: float
    net_uGy_h: float
    normalised_uGy_h: float
    below_background: bool
    nominal_height_cm: int = 0
    exact: Mapping[str, Fraction] = field(default_factory=dict, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "height_cm": self.height_cm,
            "nominal_height_cm": self.nominal_height_cm,
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
    effective_uSv_h: float  # the judged E
    limit_uSv_h: float
    ratio: float  # judged E / limit
    verdict: Verdict
    warnings: tuple[Finding, ...]  # each "field: message", field relative to the point
    effective_measured_uSv_h: float = 0.0  # E from the measured dose rates
    design_attenuation_factor: Mapping[str, Any] | None = None  # {"value": K, "source": text} (p.25)
    exact_effective_uSv_h: Fraction = Fraction(0)  # the judged E, exact
    design: Mapping[str, Any] | None = None  # the shielding design behind the point's barrier (docs/shielding.md)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "room": self.room,
            "category": self.category,
            "kind": self.kind,
            "formula": self.formula,
            "heights": {str(h.height_cm): h.to_dict() for h in self.heights},
            "design_attenuation_factor": dict(self.design_attenuation_factor)
            if self.design_attenuation_factor
            else None,
            "effective_measured_uSv_h": self.effective_measured_uSv_h,
            "effective_uSv_h": self.effective_uSv_h,
            # The same number under its 0.1 name, kept in the JSON document for scripts that read it.
            "effective_dose_rate_uSv_h": self.effective_uSv_h,
            "limit_uSv_h": self.limit_uSv_h,
            "ratio": self.ratio,
            "verdict": self.verdict,
            "warnings": [w.to_dict() for w in self.warnings],
            **({"design": dict(self.design)} if self.design is not None else {}),
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
    warnings: tuple[Finding, ...]  # survey-wide, then every point's prefixed with points[id]
    points: tuple[PointEvaluation, ...]
    formula3_text: str = ""

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
            "formula3_text": self.formula3_text,
            "verdict": self.verdict,
            "warnings": [w.to_dict() for w in self.warnings],
            "points": [p.to_dict() for p in self.points],
        }


def evaluate(
    survey: Survey,
    profile: Profile | None = None,
    *,
    formula3: Formula3Variant | None = None,
    strict: bool = False,
    design: RoomResult | None = None,
) -> SurveyEvaluation:
    """Evaluate every point of ``survey``; ``formula3`` overrides the survey's option.

    ``strict`` turns the p.15 beam-condition warnings into a SurveyError. ``design`` is the
    room's shielding design: a point naming its ``barrier`` gets the design's prediction, and
    a category-7 point without a typed K takes K from it (p.25).
    """
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
    points = tuple(
        _evaluate_point(survey, point, profile, workload, background, variant, design) for point in survey.points
    )
    warnings = (*_survey_warnings(survey, profile, workload), *_point_warnings(points))
    if strict:
        conditions = [w for w in warnings if w.paragraph == "p.15"]
        if conditions:
            first = conditions[0]
            text = first[len(first.field) + 2 :] if first.field else str(first)
            raise SurveyError(f"{text} (--strict)", source=survey.source, field=first.field)
    return SurveyEvaluation(
        protocol=profile.id,
        apparatus=survey.apparatus,
        workload_mA_min_per_week=workload.workload_mA_min_per_week,
        workload_source=workload.source,
        background_uGy_h=None if background is None else rounded(background, "background"),
        background_compensated=survey.background_compensated,
        formula3=variant,
        verdict="fail" if any(p.verdict == "fail" for p in points) else "pass",
        warnings=warnings,
        points=points,
        formula3_text=profile.formula3[variant].text,
    )


def _background_mean(survey: Survey) -> Fraction | None:
    if survey.background_compensated:
        return None
    try:
        return exact_mean(survey.background_uGy_h)
    except SurveyError as err:
        raise relocate(err, prefix="background_uGy_h") from None


def _evaluate_point(
    survey: Survey,
    point: SurveyPoint,
    profile: Profile,
    workload: WorkloadChoice,
    background_uGy_h: Fraction | None,
    formula3: Formula3Variant,
    design: RoomResult | None = None,
) -> PointEvaluation:
    try:
        link = None
        if point.barrier is not None and design is not None:
            try:
                link = design_at_point(
                    design,
                    point.barrier,
                    apparatus_type=survey.apparatus,
                    workload_mA_min_per_week=exact(workload.workload_mA_min_per_week),
                    effective_conversion=exact(profile.effective_conversion.value),
                )
            except SurveyError as err:
                raise SurveyError(err.message, field="barrier") from None
        nominal = nominal_heights(point.heights_cm, profile=profile, kind=point.kind)
        heights = tuple(
            _evaluate_height(height, nominal[height], point, profile, workload, background_uGy_h)
            for height in point.heights_cm
        )
        normalised = {h.height_cm: h.exact["normalised"] for h in heights}
        formula, measured = exact_effective(normalised, formula3, profile=profile, kind=point.kind)
        limit = dmd_for(profile, point.category)
        factor = point.design_attenuation_factor
        factor_dict = factor.model_dump() if factor is not None else None
        if factor is not None:
            judged = measured / exact(factor.value)
        elif link is not None and point.category == DWELLING_CATEGORY:
            judged = measured / link.K
            factor_dict = {"value": rounded(link.K, "K"), "source": link.source}
        else:
            judged = measured
        shown_measured = rounded(measured, "effective dose rate")
        shown = rounded(judged, "effective dose rate")
        ratio = rounded(judged / exact(limit), "E/limit")
    except SurveyError as err:
        raise relocate(err, prefix=f"points[{point.id}]", source=survey.source) from None
    return PointEvaluation(
        id=point.id,
        room=point.room,
        category=point.category,
        kind=point.kind,
        formula=formula,
        heights=heights,
        effective_uSv_h=shown,
        limit_uSv_h=limit,
        ratio=ratio,
        verdict=verdict_for(judged, limit),
        warnings=tuple(
            (
                *_formula3_decides(point, normalised, measured, judged, limit, formula, formula3, profile),
                *_warnings_for_point(survey, point, heights, profile, background_uGy_h),
                *_design_findings(point, link, design, factor_dict),
            )
        ),
        effective_measured_uSv_h=shown_measured,
        design_attenuation_factor=factor_dict,
        exact_effective_uSv_h=judged,
        design=link.to_dict() if link is not None else None,
    )


def _formula3_decides(
    point: SurveyPoint,
    normalised: Mapping[int, Fraction],
    measured: Fraction,
    judged: Fraction,
    limit: float,
    formula: str,
    used: Formula3Variant,
    profile: Profile,
) -> Iterable[Finding]:
    """A warning when formula (3)'s other reading would give the other verdict (issue 21 §3).

    As printed, formula (3) gives 0.375·D in a uniform field against formula (4)'s 0.5·D; read consistently with
    (4) it gives 0.5·D. When the two readings fall on both sides of the limit, the choice decides the verdict.
    """
    if formula != "3":
        return
    other: Formula3Variant = "conservative" if used == "literal" else "literal"
    try:
        other_formula, other_measured = exact_effective(normalised, other, profile=profile, kind=point.kind)
    except SurveyError:
        return  # the other reading needs other heights: it cannot be compared here
    if other_formula != "3":
        return
    # the same attenuation factor K (if any) as the reading used: judged / measured
    other_judged = other_measured * (judged / measured) if measured else other_measured
    values = {used: judged, other: other_judged}
    verdicts = {v: verdict_for(e, limit) for v, e in values.items()}
    if verdicts["literal"] == verdicts["conservative"]:
        return
    lit, con = (rounded(values[v], "effective dose rate") for v in ("literal", "conservative"))
    yield Finding(
        f"formula (3) decides the verdict: as printed ({profile.formula3['literal'].text}) E = {lit:g} uSv/h,"
        f" {verdicts['literal']}; read consistently with formula (4) ({profile.formula3['conservative'].text})"
        f" E = {con:g} uSv/h, {verdicts['conservative']}; the evaluation used the {used} reading",
        "formula3_decides",
        "p.29",
        "formula",
    )


def _design_findings(
    point: SurveyPoint, link: DesignAtPoint | None, design: RoomResult | None, factor: Mapping[str, Any] | None
) -> Iterable[Finding]:
    if point.barrier is not None and design is None:
        yield Finding(
            f"names barrier {point.barrier!r} but the survey has no shielding design "
            "(shielding_design, or evaluate --design): the design's prediction is not shown",
            "no_shielding_design",
            None,
            "barrier",
        )
    if link is not None and point.design_attenuation_factor is None and factor is not None:
        yield Finding(
            f"K = {factor['value']:g} from the room's shielding design ({link.source}): E from the measured dose"
            " rates is divided by K and judged against category 7 (App. 14 p.25; the division is radsurvey's"
            " reading, the paragraph gives no formula)",
            "design_attenuation_factor",
            "p.25",
            "design_attenuation_factor",
        )


def _evaluate_height(
    height_cm: int,
    nominal_cm: int,
    point: SurveyPoint,
    profile: Profile,
    workload: WorkloadChoice,
    background_uGy_h: Fraction | None,
) -> HeightResult:
    readings = point.readings_uGy_h[height_cm]
    try:
        mean = exact_mean(readings)
        net, below = exact_net(mean, background_uGy_h)
        normalised = exact_normalise(net, point.anode_current_mA, workload.workload_mA_min_per_week, profile=profile)
        shown = (rounded(mean, "mean dose rate"), rounded(net, "net dose rate"), rounded(normalised, "normalised"))
    except SurveyError as err:
        field = err.field or f"readings_uGy_h.{height_cm}"
        raise SurveyError(err.message, field=field) from None
    exact_values = {"mean": mean, "net": net, "normalised": normalised}
    return HeightResult(height_cm, tuple(readings), *shown, below, nominal_cm, exact_values)


def _survey_warnings(survey: Survey, profile: Profile, workload: WorkloadChoice) -> Iterable[Finding]:
    for text in workload.warnings:
        yield Finding(text, "workload", "App. 14 Table 1")
    if survey.background_compensated and survey.background_uGy_h:
        yield Finding("ignored, the meter compensates background", "background_ignored", "p.14", "background_uGy_h")
    else:
        yield from _out_of_range("background_uGy_h", survey.background_uGy_h, survey, profile)
    yield from _near_misses(survey.metadata, KNOWN_SURVEY_FIELDS)


def _warnings_for_point(
    survey: Survey,
    point: SurveyPoint,
    heights: Sequence[HeightResult],
    profile: Profile,
    background_uGy_h: Fraction | None,
) -> Iterable[Finding]:
    kind = profile.point_kind(point.kind)
    nominal = tuple(sorted(h.nominal_height_cm for h in heights))
    if kind is not None and kind.heights_cm and set(kind.heights_cm) != set(nominal):
        expected = heights_text(kind.heights_cm)
        yield Finding(
            f"{point.kind!r} points are measured at {expected} ({kind.source}), got {heights_text(nominal)}",
            "kind_heights",
            kind.source.removeprefix("App. 14 ").split(" ")[0] or None,
            "kind",
        )
    yield from beam_conditions(survey, point, profile)
    yield from _scope_findings(survey, point, profile)
    yield from _attenuation_findings(point)
    for height in heights:
        field_name = f"readings_uGy_h.{height.height_cm}"
        yield from _out_of_range(field_name, height.readings_uGy_h, survey, profile)
        if height.below_background:
            shown_background = rounded(background_uGy_h, "background") if background_uGy_h is not None else 0.0
            yield Finding(
                f"mean {height.mean_uGy_h:g} uGy/h is below the background"
                f" {shown_background:g} uGy/h; net dose rate set to 0",
                "below_background",
                "p.14",
                field_name,
            )
    yield from _near_misses(point.metadata, KNOWN_POINT_FIELDS)


def _scope_findings(survey: Survey, point: SurveyPoint, profile: Profile) -> Iterable[Finding]:
    """Where the input contradicts the regulation's scope (issue 21 §3): a room category defined for other
    apparatus (kz-2008-303 category 7: dental only); a workplace point in an X-ray therapy room (p.26 names the
    adjacent rooms only)."""
    row = profile.workload(survey.apparatus)
    category = profile.category(point.category)
    if category is not None and category.apparatus and survey.apparatus not in category.apparatus:
        yield Finding(
            f"category {point.category} ({category.description}) is for {', '.join(category.apparatus)} apparatus"
            f" ({category.source}), not {survey.apparatus!r}",
            "category_scope",
            None,
            "category",
        )
    if row is not None and row.therapy and point.kind == "workplace":
        yield Finding(
            f"a workplace point in the room of X-ray therapy apparatus {survey.apparatus!r}: App. 14 p.26 names"
            " the adjacent rooms only",
            "therapy_workplace",
            "p.26",
            "kind",
        )


def beam_conditions(survey: Survey, point: SurveyPoint, profile: Profile) -> Iterable[Finding]:
    """App. 14 p.15 for one point of a survey (see :func:`beam_condition_findings`)."""
    yield from beam_condition_findings(
        profile,
        apparatus=survey.apparatus,
        anode_current_mA=point.anode_current_mA,
        anode_voltage_kV=point.anode_voltage_kV,
        apparatus_max_voltage_kV=survey.apparatus_max_voltage_kV,
        fluoroscopy=point.metadata.get("mode") == "fluoroscopy",
    )


def beam_condition_findings(
    profile: Profile,
    *,
    apparatus: str,
    anode_current_mA: float,
    anode_voltage_kV: float | None,
    apparatus_max_voltage_kV: float | None = None,
    fluoroscopy: bool = False,
) -> Iterable[Finding]:
    """App. 14 p.15: I >= 2 mA in fluoroscopy; U at the Table 1 standard (or the apparatus maximum when lower).

    Fluoroscopy: an apparatus whose profile row says it works in fluoroscopy (kz-2008-303: the fluoroscopy
    apparatus, the diagnostic complex, angiography, the surgical C-arm, the therapy simulator), or a point marked so.
    """
    row = profile.workload(apparatus)
    in_fluoroscopy = fluoroscopy or (row is not None and row.fluoroscopy)
    if in_fluoroscopy and exact(anode_current_mA) < exact(2):
        yield Finding(
            f"{anode_current_mA:g} mA is below the 2 mA App. 14 p.15 requires in fluoroscopy",
            "fluoroscopy_current",
            "p.15",
            "anode_current_mA",
        )
    voltage = anode_voltage_kV
    if voltage is None or row is None or isinstance(row.voltage_kV, str):
        return
    standard = row.voltage_kV
    maximum = apparatus_max_voltage_kV
    if maximum is not None and exact(maximum) < exact(standard):
        if exact(voltage) != exact(maximum):
            yield Finding(
                f"{voltage:g} kV; App. 14 p.15 and the Table 1 note ask for the apparatus maximum"
                f" {maximum:g} kV (below the standard {standard:g} kV of {row.source})",
                "anode_voltage",
                "p.15",
                "anode_voltage_kV",
            )
        return
    if exact(voltage) == exact(standard):
        return
    hint = (
        "; if that is the apparatus's maximum, record it as apparatus_max_voltage_kV (Table 1 note)"
        if exact(voltage) < exact(standard)
        else ""
    )
    yield Finding(
        f"{voltage:g} kV differs from the standard {standard:g} kV App. 14 p.15 asks for ({row.source}){hint}",
        "anode_voltage",
        "p.15",
        "anode_voltage_kV",
    )


def _attenuation_findings(point: SurveyPoint) -> Iterable[Finding]:
    factor = point.design_attenuation_factor
    if factor is not None:
        yield Finding(
            f"K = {factor.value:g} from the room's shielding design ({factor.source}): E from the measured dose"
            " rates is divided by K and judged against category 7 (App. 14 p.25; the division is radsurvey's"
            " reading, the paragraph gives no formula)",
            "design_attenuation_factor",
            "p.25",
            "design_attenuation_factor",
        )


def _point_warnings(points: Iterable[PointEvaluation]) -> Iterable[Finding]:
    for point in points:
        for warning in point.warnings:
            yield warning.within(f"points[{point.id}]")


def declared_dose_rate_ranges(metadata: Mapping[str, Any]) -> list[tuple[float, float]]:
    """The dose-rate ranges (uGy/h) the survey's instruments declare, from its metadata.

    Read from ``instruments`` (``dose_rate_min_uGy_h``/``dose_rate_max_uGy_h``) or the older
    single ``instrument`` (``dose_rate_range_uGy_h``), at the top level or under ``metadata``;
    an instrument without both limits declares nothing.
    """
    found: list[tuple[float, float]] = []
    for where in (metadata, metadata.get("metadata")):
        if not isinstance(where, Mapping):
            continue
        listed = where.get("instruments")
        instruments = list(listed) if isinstance(listed, list) else []
        if isinstance(where.get("instrument"), Mapping):
            instruments.append(where["instrument"])
        for inst in instruments:
            if not isinstance(inst, Mapping):
                continue
            pair = inst.get("dose_rate_range_uGy_h")
            low, high = pair if isinstance(pair, list | tuple) and len(pair) == 2 else (None, None)
            low = inst.get("dose_rate_min_uGy_h", low)
            high = inst.get("dose_rate_max_uGy_h", high)
            numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high))
            if numbers and low < high:
                found.append((float(low), float(high)))
    return found


def _out_of_range(field_name: str, readings: Sequence[float], survey: Survey, profile: Profile) -> Iterable[Finding]:
    """Readings outside the dose-rate range the instrument declares (App. 14 p.32-33 is about that range).

    The regulation's 0.1-1000 uGy/h is what the instrument must cover, not where readings must lie: an
    ordinary 0.09 uGy/h background read by an instrument declaring 0.05-10 000 uGy/h is fine. With
    several instruments, one covering the reading is enough (the file does not say which was used).
    Whether the declared range covers the required one is the instrument check's (a validity reason).
    """
    ranges = declared_dose_rate_ranges(survey.metadata)
    if not ranges:
        return
    outside = sum(1 for r in readings if not any(low <= r <= high for low, high in ranges))
    if outside:
        low, high = min(lo for lo, _ in ranges), max(hi for _, hi in ranges)
        yield Finding(
            f"{outside} of {len(readings)} readings outside {low:g}-{high:g} uGy/h,"
            f" the dose-rate range the instrument declares ({profile.instrument.source})",
            "outside_instrument_range",
            "p.32",
            field_name,
        )


def _near_misses(metadata: Mapping[str, Any], known: Sequence[str]) -> Iterable[Finding]:
    """Unknown fields that look like a misspelt known one (they would be ignored silently)."""
    for name in metadata:
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if close:
            yield Finding(f"unknown field kept as metadata; did you mean {close[0]!r}?", "near_miss", None, name)


__all__ = [
    "EVALUATION_SCHEMA",
    "Finding",
    "Formula",
    "HeightResult",
    "PointEvaluation",
    "SurveyEvaluation",
    "Verdict",
    "WorkloadChoice",
    "beam_condition_findings",
    "beam_conditions",
    "dmd_for",
    "effective_dose_rate",
    "evaluate",
    "mean_uGy_h",
    "net_uGy_h",
    "nominal_heights",
    "normalise",
    "select_formula",
    "verdict_for",
    "workload_for",
]
