"""Typed models of a regulation's shielding-design tables (``radsurvey.shielding/1``).

The data files sit beside this module, one per survey profile (``kz_2008_303.toml``
for ``kz-2008-303``). Every value carries ``source``: appendix, table, row and the
seed's line numbers, or the radsurvey decision that replaces a defective passage.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]

EquipmentGroup = Literal["mobile", "personal"]


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EquipmentMinimum(_Data):
    """One row (or one part of a row) of the minimum lead equivalents of protective equipment."""

    key: Key
    group: EquipmentGroup
    item: Text
    part: str = ""  # "front surface" / "rest of the surface" where the source splits an item
    variant: Literal["", "heavy", "light"] = ""
    minimum_lead_mm: Positive
    printed: Text  # the cell as printed (decimal comma kept)
    source: Text
    note: str = ""

    @property
    def text(self) -> str:
        """The item with its part and variant, as one label."""
        return ", ".join(part for part in (self.item, self.part, self.variant) if part)


class ShieldingData(_Data):
    """One regulation's shielding-design tables, for the survey profile ``profile``."""

    schema_id: Literal["radsurvey.shielding/1"] = Field(alias="schema")
    profile: Text
    title: Text
    source: Text
    note: str = ""
    protective_equipment: tuple[EquipmentMinimum, ...]

    @model_validator(mode="after")
    def _unique_keys(self) -> ShieldingData:
        keys = [e.key for e in self.protective_equipment]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"protective_equipment: duplicate key(s) {', '.join(duplicates)}")
        return self

    def equipment(self, key: str) -> EquipmentMinimum | None:
        return next((e for e in self.protective_equipment if e.key == key), None)
