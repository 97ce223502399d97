"""The facility register's records as validated models: rooms, apparatus, instruments, protective equipment.

One model per register table; a facility TOML file (schema ``radsurvey.facility/1``)
is a list of each. Every field is checked here, so the store only ever holds
values that passed; an error names the file, the entry and the field.
"""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from radsurvey.protocols.errors import RadsurveyError

FACILITY_SCHEMA = "radsurvey.facility/1"

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Key = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]{0,79}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]

# Protective equipment kinds (kz-2008-303 App. 10 names; seed 001 Art 12 "protective devices").
EQUIPMENT_KINDS = (
    "apron",
    "dental_apron",
    "cape",
    "collar",
    "vest",
    "skirt",
    "gonad_apron",
    "cap",
    "glasses",
    "gloves",
    "plate",
    "screen",
    "diaper",
    "other",
)


class FacilityError(RadsurveyError):
    """A refused facility command or file: one line naming the file, entry or field."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AdjacentSpace(_Record):
    """A space next to the room as surveyed: where it is and its room category (App. 14 Table 2)."""

    space: Name
    category: int = Field(ge=1, le=99)


class Room(_Record):
    name: Key
    floor: Text = ""
    purpose: Text = ""
    adjacent: list[AdjacentSpace] = Field(default_factory=list)
    monitors: list[Key] = Field(
        default_factory=list, description="channels of the fixed monitor(s) in this room (their equipment alarms)"
    )


class Apparatus(_Record):
    """An X-ray apparatus in a room: Table 1 row, identity, licence data (seed 000 §7.1 where given)."""

    id: Key
    room: Key
    table1: Key = Field(description="the Table 1 (App. 14) workload key, e.g. radiography")
    maker: Text = ""
    model: Text = ""
    serial: Text = ""
    tube_serial: Text = ""
    sanitary_conclusion: Text = Field("", description="sanitary conclusion or licence number")
    gen_number: Text = Field("", description="regulator's GEN label (seed 000 L52-L54)")
    radiation_work_code: Text = Field("", description="department radiation-work (film-badge) code (000 L13-L15)")
    device_status: Text = Field("", description="operational status (000 L137)")


class Instrument(_Record):
    id: Key
    maker: Text = ""
    model: Text = ""
    serial: Text = ""
    driver: Text = Field("", description="the driver family that reads it (gmc, radpro, ...), if any")
    certificate_number: Text = ""
    certificate_expires: date | None = None


class ProtectiveItem(_Record):
    """An apron, collar, screen...: inspected at least every 3 months (seed 001 Art 12(c), L68)."""

    id: Key
    kind: Literal[EQUIPMENT_KINDS]  # type: ignore[valid-type]
    room: Key | None = None
    lead_equivalent_mm: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = None
    app10: Key | None = Field(
        None, description="the item's row of kz-2008-303 App. 10 (e.g. apron_one_sided_heavy): its minimum lead"
    )
    description: Text = ""

    @model_validator(mode="after")
    def _meets_app10(self) -> ProtectiveItem:
        if self.app10 is None:
            return self
        check = app10_check(self.app10, self.lead_equivalent_mm)
        if check is not None and not check.sufficient:
            raise ValueError(app10_shortfall(self.id, check))
        return self


def app10_check(key: str, lead_equivalent_mm: float | None) -> Any:
    """The App. 10 minimum of ``key`` against a lead equivalent (None without one); ValueError for an unknown key."""
    from radsurvey.protocols.errors import ProfileError
    from radsurvey.protocols.shielding import check_equipment, equipment_minimum

    try:
        equipment_minimum(key)
    except ProfileError as err:
        raise ValueError(err.message) from None
    if lead_equivalent_mm is None:
        return None
    return check_equipment(key, Decimal(repr(lead_equivalent_mm)))


def app10_shortfall(item: str, check: Any) -> str:
    return (
        f"{item}: {float(check.lead_equivalent_mm):g} mm Pb is below the minimum {float(check.minimum_lead_mm):g} mm"
        f" of {check.item.key} ({check.item.source}; p.69)"
    )


class FacilityFile(_Record):
    """A facility TOML file: the whole register, as a facility keeps it under version control."""

    schema_id: Literal["radsurvey.facility/1"] = Field(alias="schema")
    name: Name
    address: Text = ""
    department: Text = ""
    radiation_work_code: Text = ""
    protocol: Key = Field("kz-2008-303", description="survey profile whose p.107 periods make rooms due")
    rooms: list[Room] = Field(default_factory=list)
    apparatus: list[Apparatus] = Field(default_factory=list)
    instruments: list[Instrument] = Field(default_factory=list)
    equipment: list[ProtectiveItem] = Field(default_factory=list)

    @field_validator("rooms", "apparatus", "instruments", "equipment")
    @classmethod
    def _unique(cls, value: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for i, item in enumerate(value):
            key = item.name if isinstance(item, Room) else item.id
            if key in seen:
                raise ValueError(f"[{i}] duplicate {key!r}")
            seen.add(key)
        return value


def validation_line(err: ValidationError, *, prefix: str = "") -> str:
    """The first problem of a validation error as ``field: message``."""
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"])
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    where = f"{prefix}.{where}" if prefix and where else prefix or where
    return f"{where}: {message}" if where else message


def parse_record(model: type[_Record], data: dict[str, Any], *, what: str) -> Any:
    """One record from command options or a request; FacilityError naming the field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise FacilityError(f"{what}: {validation_line(err)}") from None


def read_facility_file(path: Path) -> FacilityFile:
    """A facility TOML file, validated whole; FacilityError naming the file and field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FacilityError(f"cannot read: {err.strerror or err}", source=str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise FacilityError(f"not valid TOML: {err}", source=str(path)) from None
    try:
        parsed = FacilityFile.model_validate(data)
    except ValidationError as err:
        raise FacilityError(validation_line(err), source=str(path)) from None
    rooms = {r.name for r in parsed.rooms}
    for i, a in enumerate(parsed.apparatus):
        if a.room not in rooms:
            raise FacilityError(f"apparatus.{i}.room: no room {a.room!r} in this file", source=str(path))
    for i, e in enumerate(parsed.equipment):
        if e.room is not None and e.room not in rooms:
            raise FacilityError(f"equipment.{i}.room: no room {e.room!r} in this file", source=str(path))
    return parsed
