"""A room's shielding design (``radsurvey.shielding-room/1``): apparatus, barriers, installed layers.

p.64: every apparatus of the room is calculated separately; a barrier suffices when
its installed lead is enough for each apparatus that reaches it. Pure: parses the
file's text and calculates; reading the file is the caller's.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from ..errors import ShieldingError
from ..profiles import DEFAULT_PROFILE_ID
from ..profiles import _key_path as _key_path  # the profiles' key-path rendering of pydantic errors
from ..profiles.models import _unique as _unique  # one duplicate-key rule for every data file
from .barrier import BarrierInput, BarrierResult, Layer, Note, calculate_barrier
from .models import Beam

SCHEMA = "radsurvey.shielding-room/1"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoomApparatus(_Model):
    id: Id
    type: Text  # an App. 6/16 key, or "other"
    description: str = ""
    K_R: Positive | None = None
    workload_mA_min_per_week: Positive | None = None
    anode_voltage_kV: Positive | None = None
    # a fluorograph's protective cabin: its attenuation factor from the apparatus documentation (App. 6 note 1)
    cabin_attenuation: Annotated[float, Field(ge=1, allow_inf_nan=False)] | None = None


class RoomLayer(_Model):
    material: Text
    thickness_mm: Positive
    density_g_cm3: Positive | None = None


class Exposure(_Model):
    apparatus: Id
    distance_m: Positive
    beam: Beam


class RoomBarrier(_Model):
    id: Id
    description: str = ""
    category: Annotated[int, Field(ge=1)]
    towards: Literal["ground", "roof"] | None = None
    layers: tuple[RoomLayer, ...] = ()
    exposure: tuple[Exposure, ...] = Field(min_length=1)


class RoomDesign(_Model):
    schema_id: Literal["radsurvey.shielding-room/1"] = Field(alias="schema")
    room: Text
    facility: str = ""
    designer: str = ""
    date: dt.date | None = None
    profile: Text = DEFAULT_PROFILE_ID
    apparatus: tuple[RoomApparatus, ...] = Field(min_length=1)
    barriers: tuple[RoomBarrier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> RoomDesign:
        _unique("apparatus", (a.id for a in self.apparatus))
        _unique("barriers", (b.id for b in self.barriers))
        known = {a.id for a in self.apparatus}
        for b in self.barriers:
            for e in b.exposure:
                if e.apparatus not in known:
                    names = ", ".join(sorted(known))
                    raise ValueError(f"barriers[{b.id}]: no apparatus {e.apparatus!r} (known: {names})")
        return self

    def barrier(self, barrier_id: str) -> RoomBarrier | None:
        return next((b for b in self.barriers if b.id == barrier_id), None)


def parse_room_text(text: str, source: str) -> RoomDesign:
    """A room design from its TOML text; ShieldingError with the file and the first problem's key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ShieldingError(f"invalid TOML: {err}", source=source) from None
    if data.get("schema") != SCHEMA:
        raise ShieldingError(f"must be {SCHEMA!r} (got {data.get('schema')!r})", source=source, field="schema")
    try:
        return RoomDesign.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ShieldingError(message, source=source, field=_key_path(first["loc"]) or None) from None


@dataclass(frozen=True)
class BarrierDesign:
    """One barrier of the room: its result for each apparatus reaching it (p.64)."""

    barrier: RoomBarrier
    results: tuple[tuple[str, BarrierResult], ...]  # (apparatus id, result)

    @property
    def required_lead_mm(self) -> Fraction:
        return max(r.lead_mm for _, r in self.results)

    @property
    def installed_lead_equivalent_mm(self) -> Fraction | None:
        """The smallest installed lead equivalent over the apparatus (Table 3 depends on kV)."""
        values = [r.installed_lead_equivalent_mm for _, r in self.results]
        known = [v for v in values if v is not None]
        return min(known) if known else None

    @property
    def sufficient(self) -> bool | None:
        verdicts = [r.sufficient for _, r in self.results]
        if any(v is None for v in verdicts):
            return None
        return all(verdicts)

    @property
    def governing(self) -> tuple[str, BarrierResult]:
        """The apparatus asking for the most lead (p.64)."""
        return max(self.results, key=lambda item: item[1].lead_mm)

    @property
    def paragraphs(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for _, result in self.results:
            for note in (*result.notes, *(n for layer in result.layers for n in layer.notes)):
                seen.setdefault(note.paragraph.split(",")[0], None)
        return tuple(seen)

    @property
    def choices(self) -> tuple[Note, ...]:
        """Each kind of choice taken for this barrier once (the coded notes)."""
        found: dict[str, Note] = {}
        for _, result in self.results:
            for note in (*result.notes, *(n for layer in result.layers for n in layer.notes)):
                if note.code:
                    found.setdefault(note.code, note)
        return tuple(found.values())


@dataclass(frozen=True)
class RoomResult:
    design: RoomDesign
    barriers: tuple[BarrierDesign, ...]

    @property
    def sufficient(self) -> bool | None:
        verdicts = [b.sufficient for b in self.barriers]
        if any(v is False for v in verdicts):
            return False
        return None if any(v is None for v in verdicts) else True

    def barrier(self, barrier_id: str) -> BarrierDesign | None:
        return next((b for b in self.barriers if b.barrier.id == barrier_id), None)

    def to_dict(self) -> dict[str, Any]:
        def num(value: Fraction | None) -> float | None:
            return None if value is None else float(value)

        return {
            "schema": "radsurvey.shielding-calculation/1",
            "room": self.design.room,
            "facility": self.design.facility,
            "designer": self.design.designer,
            "date": self.design.date.isoformat() if self.design.date else None,
            "profile": self.design.profile,
            "sufficient": self.sufficient,
            "barriers": [
                {
                    "id": b.barrier.id,
                    "description": b.barrier.description,
                    "category": b.barrier.category,
                    "towards": b.barrier.towards,
                    "required_lead_mm": num(b.required_lead_mm),
                    "installed_lead_equivalent_mm": num(b.installed_lead_equivalent_mm),
                    "sufficient": b.sufficient,
                    "paragraphs": list(b.paragraphs),
                    "apparatus": [{"id": a, **r.to_dict()} for a, r in b.results],
                }
                for b in self.barriers
            ],
        }


def calculate_room(design: RoomDesign, *, source: str = "room") -> RoomResult:
    """Every barrier for every apparatus reaching it; ShieldingError naming the barrier and field."""
    apparatus = {a.id: a for a in design.apparatus}
    barriers = []
    for barrier in design.barriers:
        results = []
        for index, exposure in enumerate(barrier.exposure):
            a = apparatus[exposure.apparatus]
            layers = tuple(Layer(x.material, x.thickness_mm, x.density_g_cm3) for x in barrier.layers)
            try:
                result = calculate_barrier(
                    BarrierInput(
                        apparatus=a.type,
                        distance_m=exposure.distance_m,
                        beam=exposure.beam,
                        category=barrier.category,
                        K_R=a.K_R,
                        workload_mA_min_per_week=a.workload_mA_min_per_week,
                        anode_voltage_kV=a.anode_voltage_kV,
                        layers=layers,
                        towards=barrier.towards,
                        cabin_attenuation=a.cabin_attenuation,
                    ),
                    design.profile,
                )
            except ShieldingError as err:
                where = f"barriers[{barrier.id}].exposure[{index}]"
                field = f"{where}.{err.field}" if err.field else where
                raise ShieldingError(err.message, source=source, field=field) from None
            results.append((a.id, result))
        barriers.append(BarrierDesign(barrier, tuple(results)))
    return RoomResult(design, tuple(barriers))
