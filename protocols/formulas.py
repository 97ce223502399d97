"""The evaluation maths of a survey point, one small function per step.

Shared by the survey evaluation and by live pipelines (a fixed monitor knows I and
W of its room). Invalid inputs raise :class:`SurveyError` whose ``field`` is the
name of the offending input, relative to the point (``anode_current_mA``); callers
that know the point put it in front with :func:`relocate`.

Exactness: every number is taken as the decimal it was written as (a float's
shortest round-trip text, so ``140.4`` is 1404/10, not the nearest binary
fraction) and carried through formulas (1)-(4) and the comparison with DMD_E as a
:class:`fractions.Fraction`. Only the printed values are rounded; the verdict is
judged on the exact E, so E equal to DMD_E passes (App. 14 p.30, "must not
exceed"). The ``exact_*`` functions return fractions and are what the survey
evaluation uses; ``normalise`` and ``effective_dose_rate`` are their float twins
for the live pipeline, which computes a sample a second in floats anyway.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
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


Number = int | float | Decimal | Fraction


def exact(value: Number) -> Fraction:
    """``value`` as the exact decimal it was written as (floats via their shortest round-trip text)."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SurveyError(f"must be a finite number, got {value!r}")
        return Fraction(repr(value))
    return Fraction(value)


def rounded(value: Fraction, what: str = "value") -> float:
    """The float nearest to an exact value, for output (the verdict never uses it)."""
    try:
        return _finite(float(value), what)
    except OverflowError:
        raise SurveyError(f"{what} is not a finite number (inputs too large)") from None


def exact_mean(readings: Sequence[Number]) -> Fraction:
    """Arithmetic mean of repeated readings, exact."""
    if not readings:
        raise SurveyError("no readings to average")
    if not all(math.isfinite(r) for r in readings):
        raise SurveyError("readings must be finite numbers")
    return sum((exact(r) for r in readings), Fraction(0)) / len(readings)


def mean_uGy_h(readings: Sequence[float]) -> float:
    """Arithmetic mean of repeated readings."""
    return rounded(exact_mean(readings), "mean dose rate")


def exact_net(mean: Number, background: Number | None) -> tuple[Fraction, bool]:
    """Background-subtracted dose rate, clamped at 0, and whether it was below background (exact)."""
    net = exact(mean) if background is None else exact(mean) - exact(background)
    return (Fraction(0), True) if net < 0 else (net, False)


def net_uGy_h(mean_uGy_h: float, background_uGy_h: float | None) -> tuple[float, bool]:
    """Background-subtracted dose rate, clamped at 0, and whether it was below background.

    ``background_uGy_h`` is None when the meter compensates background itself.
    """
    net, below = exact_net(mean_uGy_h, background_uGy_h)
    return rounded(net, "net dose rate"), below


def exact_normalise(
    net: Number,
    anode_current_mA: Number,
    workload_mA_min_per_week: Number,
    *,
    profile: Profile | None = None,
) -> Fraction:
    """Formula (1), exact: ``net / I * W / week``."""
    _require_positive(anode_current_mA, "anode_current_mA", "mA")
    _require_positive(workload_mA_min_per_week, "workload_mA_min_per_week", "mA·min/week")
    week_min = exact(resolve_profile(profile).standard_week_min.value)
    return exact(net) / exact(anode_current_mA) * exact(workload_mA_min_per_week) / week_min


def normalise(
    net_uGy_h: float,
    anode_current_mA: float,
    workload_mA_min_per_week: float,
    *,
    profile: Profile | None = None,
) -> float:
    """Formula (1) in floats, for live pipelines: ``net / I * W / week`` (surveys use :func:`exact_normalise`)."""
    _require_positive(anode_current_mA, "anode_current_mA", "mA")
    _require_positive(workload_mA_min_per_week, "workload_mA_min_per_week", "mA·min/week")
    week_min = resolve_profile(profile).standard_week_min.value
    return _finite(net_uGy_h / anode_current_mA * workload_mA_min_per_week / week_min, "normalised dose rate")


class HeightBand(NamedTuple):
    """A nominal measurement height and the band of measured heights it accepts (App. 14 p.21)."""

    nominal_cm: int
    low_cm: float
    high_cm: float

    def text(self) -> str:
        return f"{self.nominal_cm} cm ({self.low_cm:g}-{self.high_cm:g} cm)"


def height_bands(profile: Profile | None = None) -> tuple[HeightBand, ...]:
    """The profile's nominal heights, each with its +- tolerance band (inclusive)."""
    profile = resolve_profile(profile)
    tolerance = profile.height_tolerance_cm.value
    return tuple(HeightBand(h, h - tolerance, h + tolerance) for h in profile.nominal_heights_cm)


def bands_containing(height_cm: int, profile: Profile | None = None) -> tuple[HeightBand, ...]:
    """Every band whose range contains the measured height."""
    return tuple(b for b in height_bands(profile) if b.low_cm <= height_cm <= b.high_cm)


def nominal_heights(
    heights_cm: Collection[int],
    *,
    profile: Profile | None = None,
    kind: str | None = None,
) -> dict[int, int]:
    """Each measured height mapped to the nominal height whose band contains it (App. 14 p.21).

    A height in no band, in two bands, or two heights in one band is a SurveyError
    naming the height (``readings_uGy_h.100``) and the bands. A single height at a
    point whose kind the protocol gives no height for (territory, p.23 openings,
    or no kind: a fixed monitor) keeps its measured height when it is in no band
    or two: formula (4) does not depend on the height, and the regulation names
    none there (a radsurvey decision).
    """
    profile = resolve_profile(profile)
    heights = sorted(set(heights_cm))
    point_kind = profile.point_kind(kind) if kind is not None else None
    free = len(heights) == 1 and (point_kind is None or not point_kind.heights_cm)
    bands = height_bands(profile)
    mapping: dict[int, int] = {}
    for height in heights:
        found = bands_containing(height, profile)
        if len(found) == 1:
            mapping[height] = found[0].nominal_cm
            continue
        if free:
            mapping[height] = height
            continue
        all_bands = ", ".join(b.text() for b in bands)
        tolerance = f"±{profile.height_tolerance_cm.value:g} cm, {profile.height_tolerance_cm.source}"
        if not found:
            message = f"height {height} cm is in no band of the nominal heights {all_bands} ({tolerance})"
        else:
            message = (
                f"height {height} cm lies in two bands, {' and '.join(b.text() for b in found)} ({tolerance});"
                " measure inside one band"
            )
        raise SurveyError(message, field=f"readings_uGy_h.{height}")
    by_nominal: dict[int, list[int]] = {}
    for height, nominal in mapping.items():
        by_nominal.setdefault(nominal, []).append(height)
    for nominal, measured in by_nominal.items():
        if len(measured) > 1:
            band = next(b for b in bands if b.nominal_cm == nominal)
            raise SurveyError(
                f"heights {' and '.join(f'{h} cm' for h in measured)} are both in the band of {band.text()};"
                " measure once per nominal height",
                field=f"readings_uGy_h.{measured[1]}",
            )
    return mapping


def select_formula(
    heights_cm: Collection[int],
    formula3: Formula3Variant = "literal",
    *,
    profile: Profile | None = None,
    kind: str | None = None,
) -> Formula:
    """Which formula the measured heights call for: all four (2), the wall pair (3), one (4).

    Heights are taken at their nominal values (:func:`nominal_heights`).
    """
    profile = resolve_profile(profile)
    if not heights_cm:
        raise SurveyError("no heights measured", field="readings_uGy_h")
    heights = frozenset(nominal_heights(heights_cm, profile=profile, kind=kind).values())
    if heights == profile.height_weights.heights_cm:
        return "2"
    if heights == profile.formula3[formula3].heights_cm:
        return "3"
    if len(heights) == 1:
        return "4"
    workplace = heights_text(profile.height_weights.heights_cm)
    wall = heights_text(profile.formula3[formula3].heights_cm)
    tolerance = profile.height_tolerance_cm.value
    raise SurveyError(
        f"unsupported height combination {heights_text(heights_cm)}; measure at {workplace}"
        f" (formula 2), {wall} (formula 3) or at one height (formula 4), each ±{tolerance:g} cm",
        field="readings_uGy_h",
    )


def exact_effective(
    normalised_by_height: Mapping[int, Number],
    formula3: Formula3Variant = "literal",
    *,
    profile: Profile | None = None,
    kind: str | None = None,
) -> tuple[Formula, Fraction]:
    """Formulas (2)-(4), exact: E, uSv/h, from normalised rates by measured height (cm)."""
    profile = resolve_profile(profile)
    formula = select_formula(normalised_by_height, formula3, profile=profile, kind=kind)
    nominal = nominal_heights(normalised_by_height, profile=profile, kind=kind)
    by_nominal = {nominal[h]: exact(v) for h, v in normalised_by_height.items()}
    conversion = exact(profile.effective_conversion.value)
    if formula == "2":
        return formula, conversion * _weighted(profile.height_weights.weights, by_nominal)
    if formula == "3":
        variant = profile.formula3[formula3]
        return formula, exact(variant.factor) * _weighted(variant.weights, by_nominal)
    (only,) = by_nominal.values()
    return formula, conversion * only


def effective_dose_rate(
    normalised_by_height: Mapping[int, float],
    formula3: Formula3Variant = "literal",
    *,
    profile: Profile | None = None,
) -> tuple[Formula, float]:
    """Formulas (2)-(4) in floats, for live pipelines (a sample a second must stay cheap).

    Surveys are judged on :func:`exact_effective`; this is its float twin.
    """
    profile = resolve_profile(profile)
    conversion = profile.effective_conversion.value
    if len(normalised_by_height) == 1:  # a monitor's one height: formula (4), whatever the height
        (only,) = normalised_by_height.values()
        return "4", _finite(conversion * only, "effective dose rate")
    formula = select_formula(normalised_by_height, formula3, profile=profile)
    nominal = nominal_heights(normalised_by_height, profile=profile)
    by_nominal = {nominal[h]: v for h, v in normalised_by_height.items()}
    if formula == "2":
        effective = conversion * _float_weighted(profile.height_weights.weights, by_nominal)
    elif formula == "3":
        variant = profile.formula3[formula3]
        effective = variant.factor * _float_weighted(variant.weights, by_nominal)
    else:
        (only,) = by_nominal.values()
        effective = conversion * only
    return formula, _finite(effective, "effective dose rate")


def formula_weights(
    profile: Profile, formula: Formula, formula3: Formula3Variant, heights_cm: Collection[int]
) -> dict[int, float]:
    """dE/dD_h, (uSv/h)/(uGy/h): each nominal height's coefficient in formulas (2)-(4) (App. 14 p.28-29).

    Every formula is linear in the normalised rates, so these are also the sensitivity coefficients
    the uncertainty budget needs.
    """
    conversion = profile.effective_conversion.value
    if formula == "2":
        return {h: conversion * profile.height_weights.weights[h] for h in heights_cm}
    if formula == "3":
        variant = profile.formula3[formula3]
        return {h: variant.factor * variant.weights[h] for h in heights_cm}
    return dict.fromkeys(heights_cm, conversion)


def formula_text(profile: Profile, formula: Formula, formula3: Formula3Variant) -> str:
    """Formula (2), (3) in the chosen variant or (4) as the profile writes it, for a report."""
    if formula == "3":
        return profile.formula3[formula3].text
    if formula == "4":
        return profile.formula4.text
    w = profile.height_weights.weights
    terms = " + ".join(f"{w[h]:g}*D{h}" for h in sorted(w, reverse=True))
    return f"E = {profile.effective_conversion.value:g} * ({terms})"


def normalisation_factor(profile: Profile, workload_mA_min_per_week: float, anode_current_mA: float) -> float:
    """d(normalised D)/d(net D) = W / (1800 * I), formula (1); 0 where no current was given."""
    if not anode_current_mA:
        return 0.0
    return workload_mA_min_per_week / (profile.standard_week_min.value * anode_current_mA)


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


def verdict_for(effective_uSv_h: Number, limit_uSv_h: Number) -> Verdict:
    """``pass`` when E does not exceed the limit (App. 14 p.30), compared exactly."""
    return "pass" if exact(effective_uSv_h) <= exact(limit_uSv_h) else "fail"


def _weighted(weights: Mapping[int, float], values: Mapping[int, Fraction]) -> Fraction:
    return sum((exact(weight) * values[height] for height, weight in weights.items()), Fraction(0))


def _float_weighted(weights: Mapping[int, float], values: Mapping[int, float]) -> float:
    return math.fsum(weight * values[height] for height, weight in weights.items())


def _require_positive(value: Number, field: str, unit: str) -> None:
    if not (math.isfinite(value) and value > 0):
        raise SurveyError(f"must be a finite number > 0 {unit}, got {value!r}", field=field)


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise SurveyError(f"{what} is not a finite number (inputs too large)")
    return value


def heights_text(heights: Collection[int]) -> str:
    """``30/80/120 cm``."""
    return "/".join(str(h) for h in sorted(heights)) + " cm"
