"""Typed models of a protocol profile: the regulation's tables and constants as data.

Every number carries ``source``: the appendix, table and row or paragraph it comes
from, or the radsurvey decision that replaces a defective passage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
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
    fluoroscopy: bool = False  # works in fluoroscopy: the p.15 current check applies (row data, not a name test)
    therapy: bool = False  # an X-ray therapy apparatus: its survey points are adjacent rooms only


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
    # T: the share of the time people can be at the place (kz-2008-303 App. 7); dose budgets with an
    # occupancy schedule multiply by it
    occupancy_factor: Sourced[float] | None = None
    # The apparatus (workload keys) the row is defined for; empty: any (kz-2008-303 category 7: dental only)
    apparatus: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _factor_in_range(self) -> RoomCategory:
        if self.occupancy_factor is not None and not 0 < self.occupancy_factor.value <= 1:
            raise ValueError("occupancy_factor.value must be > 0 and <= 1")
        return self


DosePeriod = Literal["week", "13_weeks", "year"]


class DoseLimit(_Data):
    """One dose limit of a regulation: a value per period, or a fraction of another limit.

    A value converted from an old unit keeps the printed one (``original_value``
    and ``original_unit``, rem or mrem) and the profile's ``rem_to_mSv`` records
    the conversion; the loader checks that the numbers agree.
    """

    key: Key
    description: Text
    period: DosePeriod
    applies_to: Text
    source: Text
    value_mSv: Positive | None = None
    original_value: Positive | None = None
    original_unit: Literal["rem", "mrem"] | None = None
    fraction_of: Key | None = None
    fraction: Annotated[float, Field(gt=0, le=1)] | None = None
    note: str = ""

    @model_validator(mode="after")
    def _one_way(self) -> DoseLimit:
        derived = self.fraction_of is not None or self.fraction is not None
        if derived and (self.fraction_of is None or self.fraction is None):
            raise ValueError("a derived limit needs both fraction_of and fraction")
        if derived == (self.value_mSv is not None):
            raise ValueError("give either value_mSv or fraction_of with fraction")
        if (self.original_value is None) != (self.original_unit is None):
            raise ValueError("original_value and original_unit go together")
        return self


class ResolvedLimit(_Data):
    """A dose limit with its value worked out (derived limits multiplied through)."""

    key: Key
    period: DosePeriod
    mSv: float
    source: Text
    applies_to: Text
    derivation: str


class Choice(_Data):
    """An item of a closed list in the regulation (reason for survey, apparatus type)."""

    key: Key
    text: Text
    source: Text
    note: str = ""


class ControlPeriod(_Data):
    """How often one kind of control is due (a survey of the rooms, an inspection, dosimetry).

    ``months`` counts calendar months from the day of the last control (a quarter is 3);
    ``per_examination`` marks a control made at every examination (no calendar period).
    """

    key: Key
    description: Text
    months: Annotated[int, Field(ge=1, le=120)] | None = None
    per_examination: bool = False
    source: Text
    note: str = ""

    @model_validator(mode="after")
    def _one_way(self) -> ControlPeriod:
        if (self.months is None) == (not self.per_examination):
            raise ValueError("give either months or per_examination = true")
        return self


class _ProfileBase(_Data):
    """What every profile has: identity, provenance, version and its dose limits."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{0,63}$")]
    version: Text = Field("1", description="the profile's own version; bump it when a value changes")
    title: Text
    source: Text
    status: Text
    note: str = ""
    rem_to_mSv: Sourced[float] | None = None
    limits: tuple[DoseLimit, ...] = ()
    control_periods: tuple[ControlPeriod, ...] = ()
    unplanned_control: tuple[Choice, ...] = Field(
        (), description="events after which a control is due at once, whatever the period"
    )

    def control_period(self, key: str) -> ControlPeriod | None:
        return next((c for c in self.control_periods if c.key == key), None)

    def _check_limits(self) -> None:
        _unique("limits", (limit.key for limit in self.limits))
        _unique("control_periods", (c.key for c in self.control_periods))
        _unique("unplanned_control", (c.key for c in self.unplanned_control))
        by_key = {limit.key: limit for limit in self.limits}
        for i, limit in enumerate(self.limits):
            where = f"limits[{i}]"
            if limit.fraction_of is not None:
                parent = by_key.get(limit.fraction_of)
                if parent is None:
                    raise ValueError(f"{where}.fraction_of: no limit {limit.fraction_of!r}")
                if parent.fraction_of is not None:
                    raise ValueError(f"{where}.fraction_of: {parent.key} is itself derived")
                if parent.period != limit.period:
                    raise ValueError(f"{where}.period: {limit.period} differs from {parent.key}'s {parent.period}")
            if limit.original_unit is not None:
                if self.rem_to_mSv is None:
                    raise ValueError(f"{where}.original_unit: a value in {limit.original_unit} needs rem_to_mSv")
                assert limit.original_value is not None and limit.value_mSv is not None
                expected = _exact(limit.original_value) * _exact(self.rem_to_mSv.value)
                if limit.original_unit == "mrem":
                    expected /= 1000
                if expected != _exact(limit.value_mSv):
                    raise ValueError(
                        f"{where}.value_mSv: {limit.original_value:g} {limit.original_unit} is "
                        f"{float(expected):g} mSv, not {limit.value_mSv:g}"
                    )

    def limit(self, key: str) -> ResolvedLimit | None:
        by_key = {limit.key: limit for limit in self.limits}
        limit = by_key.get(key)
        if limit is None:
            return None
        if limit.fraction_of is not None:
            parent = by_key[limit.fraction_of]
            assert limit.fraction is not None and parent.value_mSv is not None
            return ResolvedLimit(
                key=limit.key,
                period=limit.period,
                mSv=float(_exact(parent.value_mSv) * _exact(limit.fraction)),
                source=limit.source,
                applies_to=limit.applies_to,
                derivation=f"{limit.fraction:g} x {parent.key} ({parent.value_mSv:g} mSv, {parent.source})",
            )
        assert limit.value_mSv is not None
        derivation = ""
        if limit.original_unit is not None and self.rem_to_mSv is not None:
            derivation = f"{limit.original_value:g} {limit.original_unit} x {self.rem_to_mSv.value:g} mSv/rem" + (
                " / 1000" if limit.original_unit == "mrem" else ""
            )
        return ResolvedLimit(
            key=limit.key,
            period=limit.period,
            mSv=limit.value_mSv,
            source=limit.source,
            applies_to=limit.applies_to,
            derivation=derivation,
        )

    @property
    def has_survey_method(self) -> bool:
        return False


class LimitsProfile(_ProfileBase):
    """Dose limits and their periods only: no survey method (the maths stay the survey profile's)."""

    schema_id: Literal["radsurvey.limits/1"] = Field(alias="schema")

    @model_validator(mode="after")
    def _consistent(self) -> LimitsProfile:
        if not self.limits:
            raise ValueError("limits: a limits profile defines at least one [[limits]] entry")
        self._check_limits()
        return self


class PointKind(Choice):
    """Where a point is and at which heights it is measured (empty: the user picks)."""

    heights_cm: tuple[HeightCm, ...] = ()


class Profile(_ProfileBase):
    """A survey protocol (regulation) as data: the survey method, its tables, and any dose limits."""

    schema_id: Literal["radsurvey.profile/1"] = Field(alias="schema")
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
        self._check_limits()
        return self

    @property
    def has_survey_method(self) -> bool:
        return True

    @property
    def nominal_heights_cm(self) -> tuple[int, ...]:
        return tuple(sorted(self.height_weights.weights))

    def workload(self, key: str) -> Workload | None:
        return next((w for w in self.workloads if w.key == key), None)

    def category(self, number: int) -> RoomCategory | None:
        return next((c for c in self.categories if c.number == number), None)

    def point_kind(self, key: str) -> PointKind | None:
        return next((k for k in self.point_kinds if k.key == key), None)


def _exact(value: float) -> Decimal:
    """The decimal a TOML number was written as (repr gives the shortest round-tripping digits)."""
    return Decimal(repr(value))


def _unique(what: str, keys: Iterable[str]) -> None:
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what}: duplicate key {key!r}")
        seen.add(key)
