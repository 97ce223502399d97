"""Where a survey meets the shielding design: the design's prediction behind a barrier, and p.25's K.

A survey point may name the barrier it stands behind (``barrier``); with the
room's design at hand, the evaluation shows what the design predicts there
beside what was measured, and at a category-7 point (a dwelling next to a dental
room, App. 14 p.25) takes the attenuation factor K from the design when none is
typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ..errors import SurveyError
from ..formulas import rounded
from .barrier import BarrierResult
from .room import BarrierDesign, RoomResult


@dataclass(frozen=True)
class DesignAtPoint:
    """The design's numbers for the barrier a survey point stands behind."""

    room: str
    barrier: str
    apparatus: str  # the design's apparatus id whose result is used
    result: BarrierResult
    required_lead_mm: Fraction
    installed_lead_equivalent_mm: Fraction | None
    sufficient: bool | None
    predicted_uGy_h: Fraction | None  # D behind the barrier at the survey's workload (upper bound)
    predicted_effective_uSv_h: Fraction | None

    @property
    def K(self) -> Fraction:
        return self.result.K

    @property
    def source(self) -> str:
        return f"shielding design of {self.room}, barrier {self.barrier}, K = D0/DMD (App. 5)"

    def to_dict(self) -> dict[str, Any]:
        def num(value: Fraction | None, what: str) -> float | None:
            return None if value is None else rounded(value, what)

        return {
            "room": self.room,
            "barrier": self.barrier,
            "apparatus": self.apparatus,
            "K": num(self.K, "K"),
            "achieved_K": num(self.result.achieved_K, "K"),
            "required_lead_mm": num(self.required_lead_mm, "lead"),
            "installed_lead_equivalent_mm": num(self.installed_lead_equivalent_mm, "lead"),
            "sufficient": self.sufficient,
            "predicted_uGy_h": num(self.predicted_uGy_h, "predicted dose rate"),
            "predicted_effective_uSv_h": num(self.predicted_effective_uSv_h, "predicted E"),
        }


def _result_for(barrier: BarrierDesign, apparatus_type: str, design: RoomResult) -> tuple[str, BarrierResult]:
    types = {a.id: a.type for a in design.design.apparatus}
    matching = [(a, r) for a, r in barrier.results if types.get(a) == apparatus_type]
    if matching:
        return max(matching, key=lambda item: item[1].lead_mm)
    return barrier.governing


def design_at_point(
    design: RoomResult,
    barrier_id: str,
    *,
    apparatus_type: str,
    workload_mA_min_per_week: Fraction,
    effective_conversion: Fraction,
) -> DesignAtPoint:
    """The design's barrier ``barrier_id`` seen from a survey of ``apparatus_type`` at its workload.

    The predicted dose rate is D0 / K reached by the installed lead (the largest Table 2
    row it reaches at U, so an upper bound), scaled from the design's workload to the
    survey's normalisation workload, and E = effective_conversion * D as formula (4).
    """
    barrier = design.barrier(barrier_id)
    if barrier is None:
        known = ", ".join(b.barrier.id for b in design.barriers)
        raise SurveyError(f"no barrier {barrier_id!r} in the shielding design of {design.design.room} (known: {known})")
    apparatus, result = _result_for(barrier, apparatus_type, design)
    predicted = None
    if result.predicted_uGy_h is not None:
        predicted = result.predicted_uGy_h * workload_mA_min_per_week / result.workload_mA_min_per_week
    return DesignAtPoint(
        room=design.design.room,
        barrier=barrier_id,
        apparatus=apparatus,
        result=result,
        required_lead_mm=barrier.required_lead_mm,
        installed_lead_equivalent_mm=barrier.installed_lead_equivalent_mm,
        sufficient=barrier.sufficient,
        predicted_uGy_h=predicted,
        predicted_effective_uSv_h=None if predicted is None else effective_conversion * predicted,
    )
