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


class Formula(_Data):
    """App. 5's constants: K = 10^3 * K_R * W * N / (30 * r^2 * DMD), and p.62's minimum."""

    text: Text
    source: Text
    mGy_to_uGy: Positive
    hours_per_week: Positive
    hours_per_week_source: Text
    minimum_lead_mm: Positive
    minimum_lead_source: Text


Beam = Literal["primary", "moving", "scatter"]


class BeamFactor(_Data):
    """The directional factor N of one kind of direction (App. 5)."""

    key: Beam
    N: Positive
    text: Text
    source: Text


class DesignWorkload(_Data):
    """Design workload W and anode voltage U of one kind of apparatus (App. 6, App. 16)."""

    key: Key
    description: Text
    workload_mA_min_per_week: Positive
    printed_workload: Text
    voltage_kV: Positive | Literal["nominal"]
    printed_voltage: Text
    source: Text
    moving_source: bool = False  # N = 0.1 applies (App. 5)
    scatter_only: bool = False  # p.65: shielding against scattered radiation only
    note: str = ""


class DesignCategory(_Data):
    """One row of App. 7: the permissible absorbed dose rate in air behind a barrier."""

    number: Annotated[int, Field(ge=1)]
    description: Text
    dmd_uGy_h: Positive
    occupancy_T: Positive
    shift_n: Positive
    exposure_h_per_year: Positive
    dose_limit_mSv_per_year: Positive
    printed: Text
    source: Text


class RadiationOutput(_Data):
    """One column of App. 8 Table 1: K_R at an anode voltage."""

    anode_voltage_kV: Positive
    K_R: Positive
    printed: Text
    source: Text


class LeadCell(_Data):
    anode_voltage_kV: Positive
    lead_mm: Positive
    printed: Text
    source: Text


class Unreadable(_Data):
    """A cell the source leaves empty or garbles: reported, never used."""

    anode_voltage_kV: Positive
    printed: Text
    source: Text
    reason: Text


class LeadRow(_Data):
    K: Positive
    printed_K: Text
    source: Text
    cells: tuple[LeadCell, ...]
    unreadable: tuple[Unreadable, ...] = ()

    def cell(self, voltage_kV: float) -> LeadCell | Unreadable | None:
        found = next((c for c in self.cells if c.anode_voltage_kV == voltage_kV), None)
        return found or next((u for u in self.unreadable if u.anode_voltage_kV == voltage_kV), None)


class LeadTable(_Data):
    """App. 8 Table 2: lead thickness for an attenuation factor K, by anode voltage."""

    voltages_kV: tuple[Positive, ...]
    source: Text
    rows: tuple[LeadRow, ...]

    @model_validator(mode="after")
    def _ascending(self) -> LeadTable:
        ks = [r.K for r in self.rows]
        if ks != sorted(set(ks)):
            raise ValueError("lead_table.rows: K must increase strictly")
        if list(self.voltages_kV) != sorted(set(self.voltages_kV)):
            raise ValueError("lead_table.voltages_kV must increase strictly")
        return self


class MaterialCell(_Data):
    anode_voltage_kV: Positive
    thickness_mm: Positive
    printed: Text
    source: Text


class MaterialRow(_Data):
    lead_mm: Positive
    printed_lead: Text
    source: Text
    cells: tuple[MaterialCell, ...]
    left_out: tuple[Unreadable, ...] = ()

    def thickness_at(self, voltage_kV: float) -> MaterialCell | None:
        return next((c for c in self.cells if c.anode_voltage_kV == voltage_kV), None)


class BuildingMaterial(_Data):
    """One material of App. 8 Table 3: its density and lead-equivalent rows."""

    key: Key
    material: Text
    density_g_cm3: Positive
    printed_density: Text
    source: Text
    rows: tuple[MaterialRow, ...]


class MaterialTable(_Data):
    voltages_kV: tuple[Positive, ...]
    source: Text
    interpolation_source: Text
    density_source: Text
    density_rule: Literal["inverse"]
    density_note: Text


class LeadPlastic(_Data):
    """App. 8 Table 4: one lead-plastic product."""

    key: Key
    form: Text
    type: Text
    size: Text
    thickness_mm: Positive
    surface_density_kg_m2: Positive
    lead_mm: Positive
    printed: Text
    source: Text


class ProtectiveGlass(_Data):
    """App. 8 Table 5: lead equivalent of protective glass at 180-200 kV (not less than)."""

    thickness_mm: Positive
    lead_mm: Positive
    printed: Text
    source: Text


class LeadRubber(_Data):
    """App. 8 Table 6: lead equivalent of a lead-rubber plate in a thickness range."""

    type: Text
    thickness_min_mm: Positive
    thickness_max_mm: Positive
    lead_mm: Positive
    printed: Text
    source: Text


class ShieldingData(_Data):
    """One regulation's shielding-design tables, for the survey profile ``profile``."""

    schema_id: Literal["radsurvey.shielding/1"] = Field(alias="schema")
    profile: Text
    title: Text
    source: Text
    note: str = ""
    formula: Formula
    beams: tuple[BeamFactor, ...]
    workloads: tuple[DesignWorkload, ...]
    categories: tuple[DesignCategory, ...]
    radiation_output: tuple[RadiationOutput, ...]
    lead_table: LeadTable
    material_table: MaterialTable
    building_materials: tuple[BuildingMaterial, ...]
    lead_plastic: tuple[LeadPlastic, ...]
    protective_glass: tuple[ProtectiveGlass, ...]
    lead_rubber: tuple[LeadRubber, ...]
    protective_equipment: tuple[EquipmentMinimum, ...]

    @model_validator(mode="after")
    def _unique_keys(self) -> ShieldingData:
        for what, keys in (
            ("protective_equipment", [e.key for e in self.protective_equipment]),
            ("workloads", [w.key for w in self.workloads]),
            ("building_materials", [m.key for m in self.building_materials]),
            ("lead_plastic", [p.key for p in self.lead_plastic]),
            ("categories", [str(c.number) for c in self.categories]),
        ):
            duplicates = sorted({k for k in keys if keys.count(k) > 1})
            if duplicates:
                raise ValueError(f"{what}: duplicate key(s) {', '.join(duplicates)}")
        return self

    def equipment(self, key: str) -> EquipmentMinimum | None:
        return next((e for e in self.protective_equipment if e.key == key), None)
