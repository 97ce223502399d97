"""Shielding design as the regulation gives it: tables as data, the arithmetic exact.

The tables (``<profile id with _>.toml`` beside this module, models in
:mod:`.models`) are read once; every number is taken as the decimal it is
written as and the arithmetic is done in :class:`fractions.Fraction`, as the
survey evaluation does (docs/shielding.md).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from fractions import Fraction
from importlib import resources

from pydantic import ValidationError

from ..errors import ProfileError, SurveyError
from ..formulas import Number, exact
from ..profiles import DEFAULT_PROFILE_ID
from .models import EquipmentGroup, EquipmentMinimum, ShieldingData


def _data_file(profile_id: str) -> str:
    return profile_id.replace("-", "_").replace(".", "_") + ".toml"


@functools.cache
def shielding_data(profile_id: str = DEFAULT_PROFILE_ID) -> ShieldingData:
    """The shielding tables of a survey profile; ProfileError when it has none."""
    entry = resources.files(__name__) / _data_file(profile_id)
    if not entry.is_file():
        raise ProfileError(f"profile {profile_id!r} has no shielding tables (no {_data_file(profile_id)})")
    try:
        data = ShieldingData.model_validate(tomllib.loads(entry.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        raise ProfileError(f"invalid shielding tables: {err}", source=str(entry)) from None
    if data.profile != profile_id:
        raise ProfileError(f"file is for profile {data.profile!r}", source=str(entry), field="profile")
    return data


# --- App. 10: protective equipment -------------------------------------------------------


@dataclass(frozen=True)
class EquipmentCheck:
    """A protective item's lead equivalent against the regulation's minimum for it (p.69)."""

    item: EquipmentMinimum
    minimum_lead_mm: Fraction
    lead_equivalent_mm: Fraction
    sufficient: bool  # lead_equivalent_mm >= minimum_lead_mm (the minimum itself is enough)


def equipment_minimums(
    profile_id: str = DEFAULT_PROFILE_ID, *, group: EquipmentGroup | None = None
) -> tuple[EquipmentMinimum, ...]:
    """The minimum lead equivalents of protective equipment (App. 10), all or one group's."""
    items = shielding_data(profile_id).protective_equipment
    return tuple(i for i in items if group is None or i.group == group)


def equipment_minimum(key: str, profile_id: str = DEFAULT_PROFILE_ID) -> EquipmentMinimum:
    """One item of App. 10 by key; ProfileError naming the known keys otherwise."""
    item = shielding_data(profile_id).equipment(key)
    if item is None:
        known = ", ".join(i.key for i in equipment_minimums(profile_id))
        raise ProfileError(f"unknown protective equipment {key!r}; known: {known}")
    return item


def check_equipment(key: str, lead_equivalent_mm: Number, profile_id: str = DEFAULT_PROFILE_ID) -> EquipmentCheck:
    """A measured or stated lead equivalent (mm Pb) of an item against its App. 10 minimum, exactly."""
    item = equipment_minimum(key, profile_id)
    measured = exact(lead_equivalent_mm)
    if measured < 0:
        raise SurveyError(f"must be >= 0 mm Pb, got {lead_equivalent_mm}", field="lead_equivalent_mm")
    minimum = exact(item.minimum_lead_mm)
    return EquipmentCheck(item, minimum, measured, measured >= minimum)


__all__ = [
    "EquipmentCheck",
    "EquipmentGroup",
    "EquipmentMinimum",
    "ShieldingData",
    "check_equipment",
    "equipment_minimum",
    "equipment_minimums",
    "shielding_data",
]
