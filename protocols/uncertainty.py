"""Measurement uncertainty of E and the decision rule that judges it (pure).

The regulation (App. 14 p.28-30) gives E and says it must not exceed DMD_E; it says
nothing about uncertainty. What an accredited laboratory states beside E is taken
from the GUM (JCGM 100:2008) and the decision rule from ILAC-G8:09/2019. This is our
decision where the regulation is silent; the report says so.

The model, for one point (every formula of App. 14 is linear in the normalised rates):

    E = f * sum_h c_h * (mean_h - background)

* ``c_h`` is the sensitivity of E to the net dose rate at height h: the formula's
  weight times ``W / (1800 * I)`` (formula 1), divided by K where a design
  attenuation factor applies (computed by the caller from the profile);
* ``mean_h`` is the mean of n repeats; its standard uncertainty is the experimental
  standard deviation of the mean, ``s / sqrt(n)`` (GUM 4.2.2-4.2.3, Type A);
* ``background`` is the mean of its readings, Type A the same way; it enters every
  height with the same sign (one quantity, sensitivity ``-sum_h c_h``);
* ``f`` is the instrument's calibration factor, nominally 1: the stated basic error
  ±δ % is a limit with no distribution given, so a rectangular distribution,
  ``u(f) = δ / sqrt(3)`` (GUM 4.3.7); it is the same instrument at every height, so it
  is one input quantity with sensitivity E (fully correlated, not per height).

The inputs are uncorrelated, so ``u_c(E)^2 = sum (c_i * u(x_i))^2`` (GUM 5.1.2), and the
expanded uncertainty ``U = k * u_c`` with k = 2 (GUM 6.2.1, 6.3.3: about 95 % for a
near-normal distribution; with 3 repeats per height the Type A part has few degrees
of freedom, which is why the instrument's Type B term usually dominates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from .evaluation import PointEvaluation
    from .profiles.models import Formula3Variant, Profile

DecisionRule = Literal["simple", "guarded"]
DECISION_RULES: tuple[DecisionRule, ...] = ("simple", "guarded")
COVERAGE_FACTOR = 2.0
GUM = "JCGM 100:2008 (GUM)"
ILAC_G8 = "ILAC-G8:09/2019"


@dataclass(frozen=True, slots=True)
class RepeatStatistics:
    """Mean, experimental standard deviation and standard uncertainty of the mean of n repeats."""

    n: int
    mean: float
    std_dev: float  # s, GUM 4.2.2 (n - 1 in the denominator)
    std_uncertainty: float  # s / sqrt(n), GUM 4.2.3


def repeat_statistics(values: Sequence[float]) -> RepeatStatistics:
    """GUM 4.2: the mean of repeated observations and its Type A standard uncertainty."""
    n = len(values)
    if n == 0:
        raise ValueError("no values")
    mean = math.fsum(values) / n
    if n == 1:
        return RepeatStatistics(1, mean, 0.0, 0.0)
    s = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return RepeatStatistics(n, mean, s, s / math.sqrt(n))


@dataclass(frozen=True, slots=True)
class Component:
    """One line of the uncertainty budget: an input quantity and its contribution to u(E)."""

    quantity: str  # "repeats@80" (height in cm), "background", "instrument"
    std_uncertainty: float  # u(x_i), in the input's unit (uGy/h, or relative for the instrument)
    sensitivity: float  # c_i = dE/dx_i
    contribution_uSv_h: float  # |c_i| * u(x_i)
    method: str  # "A" or "B"


@dataclass(frozen=True, slots=True)
class PointUncertainty:
    """The budget of one point's E: components, combined and expanded uncertainty."""

    effective_uSv_h: float
    components: tuple[Component, ...]
    combined_uSv_h: float  # u_c(E)
    coverage_factor: float  # k
    expanded_uSv_h: float  # U = k * u_c

    @property
    def interval_uSv_h(self) -> tuple[float, float]:
        return self.effective_uSv_h - self.expanded_uSv_h, self.effective_uSv_h + self.expanded_uSv_h


def point_uncertainty(
    *,
    effective_uSv_h: float,
    readings_by_height: Mapping[int, Sequence[float]],
    sensitivity_by_height: Mapping[int, float],
    background_uGy_h: Sequence[float] | None,
    instrument_error_percent: float,
    coverage_factor: float = COVERAGE_FACTOR,
) -> PointUncertainty:
    """The GUM budget of E at one point (see the module docstring for the model).

    ``sensitivity_by_height``: dE/d(net dose rate) per height, (uSv/h)/(uGy/h).
    ``background_uGy_h``: the background readings, None when the meter compensates.
    ``instrument_error_percent``: the instrument's basic error limit, ±δ %.
    """
    if instrument_error_percent < 0 or not math.isfinite(instrument_error_percent):
        raise ValueError("instrument error must be a finite percentage >= 0")
    components: list[Component] = []
    for height in sorted(readings_by_height):
        stats = repeat_statistics(readings_by_height[height])
        c = sensitivity_by_height[height]
        components.append(Component(f"repeats@{height}", stats.std_uncertainty, c, abs(c) * stats.std_uncertainty, "A"))
    if background_uGy_h:
        stats = repeat_statistics(background_uGy_h)
        c = -math.fsum(sensitivity_by_height[h] for h in readings_by_height)
        components.append(Component("background", stats.std_uncertainty, c, abs(c) * stats.std_uncertainty, "A"))
    u_f = instrument_error_percent / 100.0 / math.sqrt(3.0)
    components.append(Component("instrument", u_f, effective_uSv_h, abs(effective_uSv_h) * u_f, "B"))
    combined = math.sqrt(math.fsum(c.contribution_uSv_h**2 for c in components))
    return PointUncertainty(effective_uSv_h, tuple(components), combined, coverage_factor, coverage_factor * combined)


def evaluated_point_uncertainty(
    point: PointEvaluation,
    *,
    profile: Profile,
    formula3: Formula3Variant,
    workload_mA_min_per_week: float,
    anode_current_mA: float | None,
    background_uGy_h: Sequence[float] | None,
    instrument_error_percent: float,
) -> PointUncertainty:
    """The budget of an evaluated point's judged E: the formula's weights times formula (1)'s factor,
    divided by the design attenuation factor K where p.25 applies it."""
    from .formulas import formula_weights, normalisation_factor

    nominal = {h.nominal_height_cm or h.height_cm: h for h in point.heights}
    weights = formula_weights(profile, point.formula, formula3, sorted(nominal))
    k = point.design_attenuation_factor
    attenuation = float(k["value"]) if k and isinstance(k.get("value"), int | float) and k["value"] > 0 else 1.0
    scale = normalisation_factor(profile, workload_mA_min_per_week, anode_current_mA or 0.0) / attenuation
    return point_uncertainty(
        effective_uSv_h=point.effective_uSv_h,
        readings_by_height={h: list(r.readings_uGy_h) for h, r in nominal.items()},
        sensitivity_by_height={h: weights[h] * scale for h in nominal},
        background_uGy_h=background_uGy_h,
        instrument_error_percent=instrument_error_percent,
    )


@dataclass(frozen=True, slots=True)
class Decision:
    """A point judged under a decision rule, and whether its interval straddles the limit."""

    rule: DecisionRule
    verdict: Literal["pass", "fail"]
    acceptance_limit_uSv_h: float  # the limit E is compared with (DMD_E, or DMD_E - U when guarded)
    straddles_limit: bool  # E - U < DMD_E < E + U: the measurement cannot tell on its own


def decide(effective_uSv_h: float, expanded_uSv_h: float, limit_uSv_h: float, rule: DecisionRule) -> Decision:
    """Judge E against DMD_E (App. 14 p.30: E must not exceed DMD_E).

    ``simple``: simple acceptance, ILAC-G8:09/2019 §4.2.1 (guard band w = 0): pass
    when E <= DMD_E, as p.30 reads. ``guarded``: guarded acceptance, §4.2.2, with a
    guard band w = U: pass only when E <= DMD_E - U (the specific risk of a false
    pass is then below about 2.5 % at k = 2).
    """
    if rule not in DECISION_RULES:
        raise ValueError(f"unknown decision rule {rule!r}; use one of {', '.join(DECISION_RULES)}")
    acceptance = limit_uSv_h if rule == "simple" else limit_uSv_h - expanded_uSv_h
    straddles = effective_uSv_h - expanded_uSv_h < limit_uSv_h < effective_uSv_h + expanded_uSv_h
    verdict: Literal["pass", "fail"] = "pass" if effective_uSv_h <= acceptance else "fail"
    return Decision(rule, verdict, acceptance, straddles)


__all__ = [
    "COVERAGE_FACTOR",
    "DECISION_RULES",
    "Component",
    "Decision",
    "DecisionRule",
    "PointUncertainty",
    "RepeatStatistics",
    "decide",
    "point_uncertainty",
    "repeat_statistics",
]
