"""Typed models of a protocol profile: the regulation's tables and constants as data.

Every number carries ``source``: the appendix, table and row or paragraph it comes
from, or the radsurvey decision that replaces a defective passage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Formula3Variant = Literal["literal", "conservative"]
FORMULA3_VARIANTS: tuple[Formula3Variant, ...] = ("literal", "conservative")
ExposedGroup = Literal["A", "B", "public"]

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
HeightCm = Annotated[int, Field(gt=0)]

T = TypeVar("T", int, float)


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Data, Generic[T]):
    """One constant and where it comes from."""

    value: T
    source: Text


class WeightedHeights(_Data):
    """Weights per measurement height (cm) of a multi-height formula."""

    weights: dict[HeightCm, Annotated[float, Field(gt=0, allow_inf_nan=False)]]
    source: Text

    @property
    def heights_cm(self) -> frozenset[int]:
        return frozenset(self.weights)


class Formula3(WeightedHeights):
    """One reading of formula (3): ``E = factor * sum(weight_h * D_h)``."""

    factor: Positive
    text: Text


class Formula4(_Data):
    """Formula (4), one height: ``E = effective_conversion * D``."""

    text: Text
    source: Text


class InstrumentRequirements(_Data):
    """What the dose-rate meter must meet."""

    energy_min_keV: Positive
    energy_max_keV: Positive
    dose_rate_min_uGy_h: Positive
    dose_rate_max_uGy_h: Positive
    basic_error_percent: Positive
    verification_certificate_required: bool
    source: Text
    note: str = ""


class Workload(_Data):
    """Standard weekly workload W and anode voltage of one kind of apparatus."""

    key: Key
    description: Text
    workload_mA_min_per_week: Positive
    voltage_kV: Positive | Literal["nominal"]
    source: Text
    fallback: bool = False  # not in the table the method cites; taken from elsewhere
    note: str = ""
    alternative: Sourced[float] | None = None  # a conflicting value printed elsewhere


class RoomCategory(_Data):
    """One row of the permissible-dose-rate table."""

    number: Annotated[int, Field(ge=1)]
    description: Text
    hours_per_year: Positive
    dose_limit_mSv_per_year: Positive
    dmd_uSv_h: Positive
    exposed_group: ExposedGroup
    source: Text
    note: str = ""


class Choice(_Data):
    """An item of a closed list in the regulation (reason for survey, apparatus type)."""

    key: Key
    text: Text
    source: Text
    note: str = ""


class PointKind(Choice):
    """Where a point is and at which heights it is measured (empty: the user picks)."""

    heights_cm: tuple[HeightCm, ...] = ()


class Profile(_Data):
    """A survey protocol (regulation) as data."""

    schema_id: Literal["radsurvey.profile/1"] = Field(alias="schema")
    id: Text
    title: Text
    source: Text
    status: Text
    note: str = ""
    standard_week_min: Sourced[float]
    effective_conversion: Sourced[float]
    height_tolerance_cm: Sourced[float]
    min_repeats: Sourced[int]
    height_weights: WeightedHeights
    formula3: dict[Formula3Variant, Formula3]
    formula4: Formula4
    instrument: InstrumentRequirements
    workloads: tuple[Workload, ...]
    categories: tuple[RoomCategory, ...]
    survey_reasons: tuple[Choice, ...]
    apparatus_types: tuple[Choice, ...]
    point_kinds: tuple[PointKind, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        total = sum(self.height_weights.weights.values())
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"height_weights must sum to 1, got {total}")
        missing = [v for v in FORMULA3_VARIANTS if v not in self.formula3]
        if missing:
            raise ValueError(f"formula3 lacks variant(s) {', '.join(missing)}")
        if self.min_repeats.value < 1:
            raise ValueError("min_repeats must be at least 1")
        _unique("workloads", (w.key for w in self.workloads))
        _unique("categories", (str(c.number) for c in self.categories))
        _unique("survey_reasons", (r.key for r in self.survey_reasons))
        _unique("apparatus_types", (a.key for a in self.apparatus_types))
        _unique("point_kinds", (k.key for k in self.point_kinds))
        return self

    @property
    def nominal_heights_cm(self) -> tuple[int, ...]:
        return tuple(sorted(self.height_weights.weights))

    def workload(self, key: str) -> Workload | None:
        return next((w for w in self.workloads if w.key == key), None)

    def category(self, number: int) -> RoomCategory | None:
        return next((c for c in self.categories if c.number == number), None)

    def point_kind(self, key: str) -> PointKind | None:
        return next((k for k in self.point_kinds if k.key == key), None)


def _unique(what: str, keys: Iterable[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what}: duplicate key {key!r}")
        seen.add(key)
