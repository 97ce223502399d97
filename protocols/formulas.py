"""The evaluation maths of a survey point, one small function per step.

Shared by the survey evaluation and by live pipelines (a fixed monitor knows I and
W of its room). Invalid inputs raise :class:`SurveyError` whose ``field`` is the
name of the offending input, relative to the point (``anode_current_mA``); callers
that know the point put it in front with :func:`relocate`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import Literal, NamedTuple

from .errors import SurveyError
from .profiles import DEFAULT_PROFILE_ID, Formula3Variant, Profile, Workload, get_profile

Formula = Literal["2", "3", "4"]
Verdict = Literal["pass", "fail"]


class WorkloadChoice(NamedTuple):
    """The weekly workload W used for normalisation, where it comes from, and why to look twice."""

    workload_mA_min_per_week: float
    source: str
    warnings: tuple[str, ...]


def resolve_profile(profile: Profile | None) -> Profile:
    """``profile``, or the default profile when none is given."""
    return profile if profile is not None else get_profile(DEFAULT_PROFILE_ID)


def relocate(err: SurveyError, *, prefix: str | None = None, source: str | None = None) -> SurveyError:
    """The same error, placed inside ``prefix`` (``points[R1]``) of ``source`` (the file)."""
    field = ".".join(part for part in (prefix, err.field) if part) or None
    return SurveyError(err.message, source=source or err.source, field=field)


def mean_uGy_h(readings: Sequence[float]) -> float:
    """Arithmetic mean of repeated readings."""
    if not readings:
        raise SurveyError("no readings to average")
    if not all(math.isfinite(r) for r in readings):
        raise SurveyError("readings must be finite numbers")
    try:
        return _finite(math.fsum(readings) / len(readings), "mean dose rate")
    except OverflowError:
        raise SurveyError("readings are too large to average") from None


def net_uGy_h(mean_uGy_h: float, background_uGy_h: float | None) -> tuple[float, bool]:
    """Background-subtracted dose rate, clamped at 0, and whether it was below background.

    ``background_uGy_h`` is None when the meter compensates background itself.
    """
    net = mean_uGy_h if background_uGy_h is None else mean_uGy_h - background_uGy_h
    return (0.0, True) if net < 0 else (_finite(net, "net dose rate"), False)


def normalise(
    net_uGy_h: float,
    anode_current_mA: float,
    workload_mA_min_per_week: float,
    *,
    profile: Profile | None = None,
) -> float:
    """Formula (1): dose rate normalised to the standard workload, ``net / I * W / week``."""
    _require_positive(anode_current_mA, "anode_current_mA", "mA")
    _require_positive(workload_mA_min_per_week, "workload_mA_min_per_week", "mA·min/week")
    week_min = resolve_profile(profile).standard_week_min.value
    normalised = net_uGy_h / anode_current_mA * workload_mA_min_per_week / week_min
    return _finite(normalised, "normalised dose rate")


def select_formula(
    heights_cm: Collection[int],
    formula3: Formula3Variant = "literal",
    *,
    profile: Profile | None = None,
) -> Formula:
    """Which formula the measured heights call for: all four (2), the wall pair (3), one (4)."""
    profile = resolve_profile(profile)
    heights = frozenset(heights_cm)
    if not heights:
        raise SurveyError("no heights measured", field="readings_uGy_h")
    if heights == profile.height_weights.heights_cm:
        return "2"
    if heights == profile.formula3[formula3].heights_cm:
        return "3"
    if len(heights) == 1:
        return "4"
    workplace = heights_text(profile.height_weights.heights_cm)
    wall = heights_text(profile.formula3[formula3].heights_cm)
    raise SurveyError(
        f"unsupported height combination {heights_text(heights)}; measure at {workplace}"
        f" (formula 2), {wall} (formula 3) or at one height (formula 4)",
        field="readings_uGy_h",
    )


def effective_dose_rate(
    normalised_by_height: Mapping[int, float],
    formula3: Formula3Variant = "literal",
    *,
    profile: Profile | None = None,
) -> tuple[Formula, float]:
    """Formulas (2)-(4): the effective dose rate E, uSv/h, from normalised rates by height (cm)."""
    profile = resolve_profile(profile)
    formula = select_formula(normalised_by_height, formula3, profile=profile)
    conversion = profile.effective_conversion.value
    if formula == "2":
        weighted = _weighted(profile.height_weights.weights, normalised_by_height)
        effective = conversion * weighted
    elif formula == "3":
        variant = profile.formula3[formula3]
        effective = variant.factor * _weighted(variant.weights, normalised_by_height)
    else:
        (only,) = normalised_by_height.values()
        effective = conversion * only
    return formula, _finite(effective, "effective dose rate")


def dmd_for(profile: Profile, category: int) -> float:
    """The permissible effective dose rate DMD_E, uSv/h, of a room category."""
    row = profile.category(category)
    if row is None:
        known = ", ".join(str(c.number) for c in profile.categories)
        raise SurveyError(f"unknown room category {category}; known: {known}", field="category")
    return row.dmd_uSv_h


def workload_for(profile: Profile, apparatus: str, override: float | None) -> WorkloadChoice:
    """W for ``apparatus``: the survey's override if given, else the profile's table value."""
    row = profile.workload(apparatus)
    if override is not None:
        return _overridden(profile, apparatus, row, override)
    if row is None:
        raise SurveyError(
            f"unknown apparatus {apparatus!r}: give workload_mA_min_per_week or use one of"
            f" {', '.join(w.key for w in profile.workloads)}",
            field="apparatus",
        )
    value = f"{row.workload_mA_min_per_week:g} mA·min/week from {row.source}"
    warnings: list[str] = []
    if row.fallback:
        warnings.append(f"workload for {apparatus!r} is a fallback, {value}: {row.note}")
    if row.alternative is not None:
        alternative = row.alternative
        warnings.append(
            f"workload for {apparatus!r}: {value} is used; {alternative.source} prints {alternative.value:g}"
        )
    return WorkloadChoice(row.workload_mA_min_per_week, row.source, tuple(warnings))


def _overridden(profile: Profile, apparatus: str, row: Workload | None, override: float) -> WorkloadChoice:
    _require_positive(override, "workload_mA_min_per_week", "mA·min/week")
    if row is not None and override == row.workload_mA_min_per_week:
        return WorkloadChoice(override, row.source, ())
    if row is None:
        warning = f"apparatus {apparatus!r} is not in the {profile.id} tables;"
        warning += f" workload {override:g} mA·min/week taken from the survey file"
    else:
        warning = f"workload override {override:g} mA·min/week used instead of"
        warning += f" {row.workload_mA_min_per_week:g} from {row.source}"
    return WorkloadChoice(override, "survey file (workload_mA_min_per_week)", (warning,))


def verdict_for(effective_uSv_h: float, limit_uSv_h: float) -> Verdict:
    """``pass`` when E does not exceed the limit."""
    return "pass" if effective_uSv_h <= limit_uSv_h else "fail"


def _weighted(weights: Mapping[int, float], values: Mapping[int, float]) -> float:
    return math.fsum(weight * values[height] for height, weight in weights.items())


def _require_positive(value: float, field: str, unit: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise SurveyError(f"must be a finite number > 0 {unit}, got {value!r}", field=field)


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise SurveyError(f"{what} is not a finite number (inputs too large)")
    return value


def heights_text(heights: Collection[int]) -> str:
    """``30/80/120 cm``."""
    return "/".join(str(h) for h in sorted(heights)) + " cm"
