"""One barrier by App. 5: D0, K, the lead App. 8 Table 2 asks for, and the lead installed.

Every number is exact (fractions from the decimals written); each choice the
source leaves open is a :class:`Note` the result carries, so the user sees it
beside the number it changed (docs/shielding.md lists them all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Literal

from ..errors import ShieldingError, SurveyError
from ..formulas import Number, exact, rounded
from ..profiles import DEFAULT_PROFILE_ID
from . import shielding_data
from .models import Beam, BuildingMaterial, DesignWorkload, LeadRow, ShieldingData, Unreadable

BEAMS: tuple[Beam, ...] = ("primary", "moving", "scatter")
OTHER_APPARATUS = "other"  # not in App. 6/16: W and U from the user (App. 6 note 2)
Towards = Literal["ground", "roof"]


@dataclass(frozen=True)
class Note:
    """A rule applied to reach a number: the regulation's paragraph, or radsurvey's decision."""

    paragraph: str  # "App. 8 Table 2", "p.62", or "radsurvey" for a decision where the source is silent
    text: str
    code: str = ""  # the kind of choice, for documents that print it in another language

    def to_dict(self) -> dict[str, str]:
        return {"paragraph": self.paragraph, "text": self.text, "code": self.code}


@dataclass(frozen=True)
class Layer:
    """One installed layer of a barrier: a material of App. 8 Tables 3-6, or lead."""

    material: str
    thickness_mm: Number
    density_g_cm3: Number | None = None


@dataclass(frozen=True)
class LayerResult:
    material: str
    thickness_mm: Fraction
    density_g_cm3: Fraction | None
    lead_equivalent_mm: Fraction
    source: str
    notes: tuple[Note, ...] = ()


@dataclass(frozen=True)
class BarrierInput:
    """What App. 5 needs for one barrier and one apparatus."""

    apparatus: str
    distance_m: Number
    beam: Beam
    category: int
    K_R: Number | None = None
    workload_mA_min_per_week: Number | None = None
    anode_voltage_kV: Number | None = None
    layers: tuple[Layer, ...] = ()
    towards: Towards | None = None  # p.66: floor on the ground / ceiling under the roof
    cabin_attenuation: Number | None = None  # a protective cabin's attenuation (App. 6 note 1; p.65: scatter only)


@dataclass(frozen=True)
class BarrierResult:
    apparatus: str
    beam: Beam
    category: int
    distance_m: Fraction
    K_R: Fraction
    workload_mA_min_per_week: Fraction
    anode_voltage_kV: Fraction
    N: Fraction
    D0_uGy_h: Fraction
    DMD_uGy_h: Fraction
    K: Fraction
    table_K_row: Fraction | None  # None: K <= 1, the table asks for no lead
    table_lead_mm: Fraction
    lead_mm: Fraction  # required: the table's lead, never below p.62's minimum
    shielding_required: bool  # False towards ground or roof (p.66)
    layers: tuple[LayerResult, ...]
    notes: tuple[Note, ...] = field(default=())

    @property
    def installed_lead_equivalent_mm(self) -> Fraction | None:
        if not self.layers:
            return None
        return sum((layer.lead_equivalent_mm for layer in self.layers), Fraction(0))

    @property
    def sufficient(self) -> bool | None:
        installed = self.installed_lead_equivalent_mm
        if not self.shielding_required:
            return True
        return None if installed is None else installed >= self.lead_mm

    @property
    def predicted_uGy_h(self) -> Fraction | None:
        """D behind the installed barrier, from the largest Table 2 row its lead reaches (an upper bound)."""
        return None if self.achieved_K is None else self.D0_uGy_h / self.achieved_K

    achieved_K: Fraction | None = None  # the largest Table 2 K the installed lead reaches at U

    def to_dict(self) -> dict[str, Any]:
        """JSON keys of ``radsurvey shielding barrier --format json`` (floats nearest the exact values)."""

        def num(value: Fraction | None, what: str) -> float | None:
            return None if value is None else rounded(value, what)

        out: dict[str, Any] = {
            "apparatus": self.apparatus,
            "beam": self.beam,
            "category": self.category,
            "distance_m": num(self.distance_m, "distance"),
            "K_R": num(self.K_R, "K_R"),
            "workload_mA_min_per_week": num(self.workload_mA_min_per_week, "W"),
            "anode_voltage_kV": num(self.anode_voltage_kV, "U"),
            "N": num(self.N, "N"),
            "D0_uGy_h": num(self.D0_uGy_h, "D0"),
            "DMD_uGy_h": num(self.DMD_uGy_h, "DMD"),
            "K": num(self.K, "K"),
            "table_K_row": num(self.table_K_row, "K row"),
            "table_lead_mm": num(self.table_lead_mm, "lead"),
            "lead_mm": num(self.lead_mm, "lead"),
            "shielding_required": self.shielding_required,
            "notes": [n.to_dict() for n in self.notes],
        }
        if self.layers:
            out["layers"] = [
                {
                    "material": layer.material,
                    "thickness_mm": num(layer.thickness_mm, "thickness"),
                    "density_g_cm3": num(layer.density_g_cm3, "density"),
                    "lead_equivalent_mm": num(layer.lead_equivalent_mm, "lead equivalent"),
                    "source": layer.source,
                    "notes": [n.to_dict() for n in layer.notes],
                }
                for layer in self.layers
            ]
            out["installed_lead_equivalent_mm"] = num(self.installed_lead_equivalent_mm, "lead equivalent")
            out["sufficient"] = self.sufficient
            out["achieved_K"] = num(self.achieved_K, "K")
            out["predicted_uGy_h"] = num(self.predicted_uGy_h, "D")
        return out


# --- inputs ---------------------------------------------------------------------------------


def _positive(value: Number, field_name: str, unit: str) -> Fraction:
    try:
        number = exact(value)
    except (ValueError, ZeroDivisionError, TypeError, SurveyError):
        raise ShieldingError(f"must be a finite number, got {value!r}", field=field_name) from None
    if number <= 0:
        raise ShieldingError(f"must be > 0 {unit}, got {value}", field=field_name)
    return number


def workload_row(data: ShieldingData, key: str) -> DesignWorkload | None:
    return next((w for w in data.workloads if w.key == key), None)


def apparatus_keys(data: ShieldingData) -> tuple[str, ...]:
    return (*(w.key for w in data.workloads), OTHER_APPARATUS)


def radiation_output(data: ShieldingData, voltage_kV: Fraction) -> tuple[Fraction, Note]:
    """K_R at U from App. 8 Table 1; between two columns the higher of the two (never under-shields)."""
    columns = sorted(data.radiation_output, key=lambda c: c.anode_voltage_kV)
    for column in columns:
        if exact(column.anode_voltage_kV) == voltage_kV:
            return exact(column.K_R), Note(
                "App. 8 Table 1", f"K_R = {column.printed} at {column.anode_voltage_kV:g} kV"
            )
    lower = [c for c in columns if exact(c.anode_voltage_kV) < voltage_kV]
    upper = [c for c in columns if exact(c.anode_voltage_kV) > voltage_kV]
    if not lower or not upper:
        raise ShieldingError(
            f"{float(voltage_kV):g} kV is outside App. 8 Table 1 "
            f"({columns[0].anode_voltage_kV:g}-{columns[-1].anode_voltage_kV:g} kV): "
            "give K_R from the tube's documentation",
            field="K_R",
        )
    a, b = lower[-1], upper[0]
    chosen = a if exact(a.K_R) >= exact(b.K_R) else b
    return exact(chosen.K_R), Note(
        "radsurvey",
        f"{float(voltage_kV):g} kV lies between the {a.anode_voltage_kV:g} and {b.anode_voltage_kV:g} kV columns of "
        f"App. 8 Table 1, which gives no rule: the higher K_R of the two ({chosen.printed}) is used, so D0 is never "
        "under-estimated",
        "kr_higher_neighbour",
    )


# --- App. 8 Table 2 -------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadLookup:
    row: LeadRow | None
    lead_mm: Fraction
    notes: tuple[Note, ...]


def _row_lead_at(row: LeadRow, voltage_kV: Fraction, columns: tuple[Fraction, ...]) -> Fraction | Unreadable:
    """The row's lead at U: the cell, or linear interpolation between the two columns around U."""
    if voltage_kV in columns:
        cell = row.cell(float(voltage_kV))
        assert cell is not None
        return cell if isinstance(cell, Unreadable) else exact(cell.lead_mm)
    a = max(c for c in columns if c < voltage_kV)
    b = min(c for c in columns if c > voltage_kV)
    low, high = row.cell(float(a)), row.cell(float(b))
    assert low is not None and high is not None
    for cell in (low, high):
        if isinstance(cell, Unreadable):
            return cell
    assert not isinstance(low, Unreadable) and not isinstance(high, Unreadable)
    lead_a, lead_b = exact(low.lead_mm), exact(high.lead_mm)
    return lead_a + (lead_b - lead_a) * (voltage_kV - a) / (b - a)


def table_voltage(data: ShieldingData, voltage_kV: Fraction) -> tuple[Fraction, tuple[Note, ...]]:
    """U as Table 2 reads it: below its first column, the first column; above its last, an error."""
    columns = [exact(v) for v in data.lead_table.voltages_kV]
    if voltage_kV > columns[-1]:
        raise ShieldingError(
            f"{float(voltage_kV):g} kV is above App. 8 Table 2's last column ({float(columns[-1]):g} kV): no data",
            field="anode_voltage_kV",
        )
    if voltage_kV < columns[0]:
        return columns[0], (
            Note(
                "radsurvey",
                f"{float(voltage_kV):g} kV is below App. 8 Table 2's first column: "
                f"the {float(columns[0]):g} kV column is used (more lead than the lower voltage needs)",
                "below_first_column",
            ),
        )
    return voltage_kV, ()


def required_lead(K: Fraction, voltage_kV: Fraction, profile_id: str = DEFAULT_PROFILE_ID) -> LeadLookup:
    """Lead for attenuation K at U from App. 8 Table 2: the next row up, kV interpolated linearly."""
    data = shielding_data(profile_id)
    table = data.lead_table
    used_kV, notes_kV = table_voltage(data, voltage_kV)
    notes = list(notes_kV)
    if K <= 1:
        notes.append(Note("App. 5", "D0 does not exceed DMD (K <= 1): Table 2 asks for no lead", "no_lead_needed"))
        return LeadLookup(None, Fraction(0), tuple(notes))
    columns = tuple(exact(v) for v in table.voltages_kV)
    for row in table.rows:
        if exact(row.K) < K:
            continue
        lead = _row_lead_at(row, used_kV, columns)
        if isinstance(lead, Unreadable):
            notes.append(
                Note(
                    "App. 8 Table 2",
                    f"the K = {row.printed_K} cell at {lead.anode_voltage_kV:g} kV ({lead.source}) is {lead.reason}; "
                    "the next row up is used",
                    "unreadable_cell",
                )
            )
            continue
        if exact(row.K) != K:
            notes.append(
                Note(
                    "radsurvey",
                    f"K = {_fmt(K)} lies between Table 2 rows: the next row up, K = {row.printed_K}, is used "
                    "(the source gives no rule; the next row up never under-shields)",
                    "next_row_up",
                )
            )
        if used_kV not in columns:
            notes.append(
                Note(
                    "radsurvey",
                    f"{float(used_kV):g} kV lies between Table 2 columns: lead interpolated linearly in kV "
                    "(the rule the source gives for Table 3, L4144)",
                    "kv_interpolated",
                )
            )
        return LeadLookup(row, lead, tuple(notes))
    last = table.rows[-1]
    raise ShieldingError(
        f"K = {_fmt(K)} is beyond App. 8 Table 2's last row (K = {last.printed_K}): no data", field="K"
    )


def achieved_attenuation(lead_mm: Fraction, voltage_kV: Fraction, profile_id: str = DEFAULT_PROFILE_ID) -> Fraction:
    """The largest Table 2 K whose lead at U the given lead reaches (1 when it reaches none)."""
    data = shielding_data(profile_id)
    used_kV, _ = table_voltage(data, voltage_kV)
    columns = tuple(exact(v) for v in data.lead_table.voltages_kV)
    reached = Fraction(1)
    for row in data.lead_table.rows:
        lead = _row_lead_at(row, used_kV, columns)
        if not isinstance(lead, Unreadable) and lead <= lead_mm:
            reached = max(reached, exact(row.K))
    return reached


# --- installed materials (App. 8 Tables 3-6) -------------------------------------------------


def material_keys(data: ShieldingData) -> tuple[str, ...]:
    return (
        "lead",
        *(m.key for m in data.building_materials),
        *(p.key for p in data.lead_plastic),
        "protective_glass",
        "lead_rubber_ya1002",
        "lead_rubber_1697",
    )


def _material_thickness_at(
    material: BuildingMaterial, row_index: int, voltage_kV: Fraction, columns: tuple[Fraction, ...]
) -> Fraction | None:
    """Thickness of the material equal to a row's lead at U: the cell, or linear in kV between the nearest cells."""
    row = material.rows[row_index]
    cells = {exact(c.anode_voltage_kV): exact(c.thickness_mm) for c in row.cells}
    if voltage_kV in cells:
        return cells[voltage_kV]
    lower = [v for v in cells if v < voltage_kV]
    upper = [v for v in cells if v > voltage_kV]
    if not lower or not upper:
        return None
    a, b = max(lower), min(upper)
    return cells[a] + (cells[b] - cells[a]) * (voltage_kV - a) / (b - a)


def layer_lead_equivalent(layer: Layer, voltage_kV: Fraction, profile_id: str = DEFAULT_PROFILE_ID) -> LayerResult:
    """The lead equivalent of one installed layer at anode voltage U (never more than the tables show)."""
    data = shielding_data(profile_id)
    where = f"layers[{layer.material}]"
    thickness = _positive(layer.thickness_mm, f"{where}.thickness_mm", "mm")
    density = None if layer.density_g_cm3 is None else _positive(layer.density_g_cm3, f"{where}.density_g_cm3", "g/cm3")
    building = next((m for m in data.building_materials if m.key == layer.material), None)
    if building is not None:
        return _building_layer(data, building, thickness, density, voltage_kV)
    if density is not None:
        raise ShieldingError(
            "a density applies to the building materials of App. 8 Table 3 only", field=f"{where}.density_g_cm3"
        )
    if layer.material == "lead":
        return LayerResult("lead", thickness, None, thickness, "lead: its own thickness")
    plastic = next((p for p in data.lead_plastic if p.key == layer.material), None)
    if plastic is not None:
        sheets = thickness / exact(plastic.thickness_mm)
        if sheets.denominator != 1:
            raise ShieldingError(
                f"{plastic.type} comes {plastic.thickness_mm:g} mm thick: give a whole number of sheets "
                f"({plastic.thickness_mm:g}, {2 * plastic.thickness_mm:g}, ... mm)",
                field=f"{where}.thickness_mm",
            )
        return LayerResult(
            layer.material,
            thickness,
            None,
            sheets * exact(plastic.lead_mm),
            plastic.source,
            (Note("radsurvey", f"{sheets} sheet(s) of {plastic.type}: lead equivalents added"),) if sheets > 1 else (),
        )
    if layer.material == "protective_glass":
        rows = [g for g in data.protective_glass if exact(g.thickness_mm) <= thickness]
        notes = [Note("App. 8 Table 5", "lead equivalent of TF5/TF105 glass at 180-200 kV, not less than")]
        if not rows:
            notes.append(Note("radsurvey", "thinner than Table 5's first row: no lead equivalent credited"))
            return LayerResult(
                layer.material, thickness, None, Fraction(0), data.protective_glass[0].source, tuple(notes)
            )
        row = rows[-1]
        if exact(row.thickness_mm) != thickness:
            notes.append(
                Note("radsurvey", f"between Table 5 rows: credited as {row.thickness_mm:g} mm (the row below)")
            )
        return LayerResult(layer.material, thickness, None, exact(row.lead_mm), row.source, tuple(notes))
    if layer.material.startswith("lead_rubber_"):
        kind = "1697" if layer.material.endswith("1697") else "Я-1002 / Я-1002Т"
        rubber = [r for r in data.lead_rubber if r.type == kind]
        inside = [r for r in rubber if exact(r.thickness_min_mm) <= thickness <= exact(r.thickness_max_mm)]
        below = [r for r in rubber if exact(r.thickness_max_mm) < thickness]
        notes = [Note("App. 8 Table 6", "printed '> x': credited as x")]
        if inside:
            plate = min(inside, key=lambda r: r.lead_mm)
        elif below:
            plate = max(below, key=lambda r: r.lead_mm)
            notes.append(Note("radsurvey", "outside Table 6's ranges: credited as the range below"))
        else:
            notes.append(Note("radsurvey", "thinner than Table 6's first range: no lead equivalent credited"))
            return LayerResult(layer.material, thickness, None, Fraction(0), rubber[0].source, tuple(notes))
        return LayerResult(layer.material, thickness, None, exact(plate.lead_mm), plate.source, tuple(notes))
    raise ShieldingError(
        f"unknown material {layer.material!r}; known: {', '.join(material_keys(data))}", field=f"{where}.material"
    )


def _building_layer(
    data: ShieldingData, material: BuildingMaterial, thickness: Fraction, density: Fraction | None, voltage_kV: Fraction
) -> LayerResult:
    columns = tuple(exact(v) for v in data.material_table.voltages_kV)
    notes: list[Note] = []
    if voltage_kV > columns[-1]:
        raise ShieldingError(
            f"{float(voltage_kV):g} kV is above App. 8 Table 3's last column ({float(columns[-1]):g} kV): no data",
            field="anode_voltage_kV",
        )
    used_kV = voltage_kV
    if voltage_kV < columns[0]:
        used_kV = columns[0]
        notes.append(Note("radsurvey", f"below Table 3's first column: the {float(columns[0]):g} kV column is used"))
    effective = thickness
    table_density = exact(material.density_g_cm3)
    if density is not None and density != table_density:
        effective = thickness * density / table_density
        notes.append(
            Note(
                "radsurvey",
                f"density {_fmt(density)} g/cm3 against Table 3's {material.printed_density}: credited as "
                f"{_fmt(effective)} mm of the tabulated material (thickness x density ratio; the printed rule, "
                "L4145, says 'proportionally to the density', which physics reverses)",
                "density_inverse",
            )
        )
    if used_kV not in {exact(c.anode_voltage_kV) for row in material.rows for c in row.cells}:
        notes.append(Note("App. 8 Table 3", "kV between columns: material thickness interpolated linearly (L4144)"))
    best: tuple[Fraction, str] | None = None
    usable = 0
    for index, row in enumerate(material.rows):
        needed = _material_thickness_at(material, index, used_kV, columns)
        if needed is None:
            continue
        usable += 1
        if needed <= effective and (best is None or exact(row.lead_mm) > best[0]):
            best = (exact(row.lead_mm), row.source)
    if usable == 0:
        raise ShieldingError(
            f"App. 8 Table 3 has no readable {material.key} cells around {float(voltage_kV):g} kV", field="material"
        )
    if best is None:
        notes.append(Note("radsurvey", "thinner than the table's first usable row at this voltage: no lead credited"))
        return LayerResult(material.key, thickness, density, Fraction(0), material.source, tuple(notes))
    notes.append(
        Note(
            "radsurvey",
            "credited with the largest Table 3 lead row its thickness reaches (no interpolation between rows)",
            "table3_row_below",
        )
    )
    return LayerResult(material.key, thickness, density, best[0], f"{material.source}, row {best[1]}", tuple(notes))


# --- the barrier ---------------------------------------------------------------------------


def calculate_barrier(barrier: BarrierInput, profile_id: str = DEFAULT_PROFILE_ID) -> BarrierResult:
    """App. 5 for one barrier and one apparatus, exactly; ShieldingError naming the field for bad input."""
    data = shielding_data(profile_id)
    notes: list[Note] = []
    row = workload_row(data, barrier.apparatus)
    if row is None and barrier.apparatus != OTHER_APPARATUS:
        raise ShieldingError(
            f"unknown apparatus {barrier.apparatus!r}; known: {', '.join(apparatus_keys(data))}", field="apparatus"
        )
    if barrier.beam not in BEAMS:
        raise ShieldingError(f"must be one of {', '.join(BEAMS)}, got {barrier.beam!r}", field="beam")
    if row is not None and row.scatter_only and barrier.beam != "scatter":
        raise ShieldingError(
            f"p.65: shielding for {row.key} is calculated for scattered radiation only (beam scatter)", field="beam"
        )
    if row is not None and barrier.beam == "moving" and not row.moving_source:
        movers = ", ".join(w.key for w in data.workloads if w.moving_source)
        raise ShieldingError(
            f"N = 0.1 is for apparatus whose source moves during imaging ({movers}, or {OTHER_APPARATUS}), "
            f"not {row.key}",
            field="beam",
        )
    category = next((c for c in data.categories if c.number == barrier.category), None)
    if category is None:
        known = ", ".join(str(c.number) for c in data.categories)
        raise ShieldingError(f"unknown category {barrier.category!r}; App. 7 rows: {known}", field="category")
    distance = _positive(barrier.distance_m, "distance_m", "m")

    if barrier.workload_mA_min_per_week is not None:
        workload = _positive(barrier.workload_mA_min_per_week, "workload_mA_min_per_week", "mA·min/week")
        notes.append(Note("App. 6 note 2", f"W = {_fmt(workload)} (mA·min)/week as given"))
    elif row is None:
        raise ShieldingError(
            f"apparatus {OTHER_APPARATUS}: give the workload (App. 6 note 2)", field="workload_mA_min_per_week"
        )
    else:
        workload = exact(row.workload_mA_min_per_week)
        notes.append(Note(row.source.split(",")[0], f"W = {row.printed_workload} (mA·min)/week: {row.description}"))
        if row.note:
            notes.append(Note(row.source.split(",")[0], row.note))

    if barrier.anode_voltage_kV is not None:
        voltage = _positive(barrier.anode_voltage_kV, "anode_voltage_kV", "kV")
        notes.append(Note("App. 6 note 2", f"U = {_fmt(voltage)} kV as given"))
    elif row is None or row.voltage_kV == "nominal":
        what = "the apparatus's nominal anode voltage" if row is not None else "the anode voltage"
        raise ShieldingError(f"give {what} (App. 6 prints 'nominal')", field="anode_voltage_kV")
    else:
        voltage = exact(row.voltage_kV)
        notes.append(Note(row.source.split(",")[0], f"U = {row.printed_voltage} kV"))

    if barrier.K_R is not None:
        k_r = _positive(barrier.K_R, "K_R", "mGy·m²/(mA·min)")
        notes.append(Note("App. 5 L1681", f"K_R = {_fmt(k_r)} mGy·m²/(mA·min) from the tube's documentation"))
    else:
        k_r, note = radiation_output(data, voltage)
        notes.append(note)

    cabin = None
    if barrier.cabin_attenuation is not None:
        cabin = _positive(barrier.cabin_attenuation, "cabin_attenuation", "")
        if cabin < 1:
            raise ShieldingError(f"must be >= 1, got {barrier.cabin_attenuation}", field="cabin_attenuation")
        if barrier.beam != "scatter":
            raise ShieldingError(
                "p.65: an apparatus with a protective cabin is calculated for scatter only", field="beam"
            )
    beam = next(b for b in data.beams if b.key == barrier.beam)
    N = exact(beam.N)
    notes.append(Note("App. 5", f"N = {beam.N:g}: {beam.text}"))
    formula = data.formula
    D0 = exact(formula.mGy_to_uGy) * k_r * workload * N / (exact(formula.hours_per_week) * distance**2)
    if cabin is not None:
        D0 /= cabin
        notes.append(
            Note("App. 6 note 1", f"D0 divided by the protective cabin's attenuation {_fmt(cabin)} (its documentation)")
        )
    dmd = exact(category.dmd_uGy_h)
    notes.append(
        Note(f"App. 7 row {category.number}", f"DMD = {category.printed.split(' | ')[0]} µGy/h: {category.description}")
    )
    K = D0 / dmd
    minimum = exact(formula.minimum_lead_mm)

    if barrier.towards is not None:
        notes.append(
            Note("p.66", f"the barrier faces the {barrier.towards}: no shielding in this direction", "p66_no_shielding")
        )
        lookup = LeadLookup(None, Fraction(0), ())
        required = Fraction(0)
        shielding_required = False
    else:
        lookup = required_lead(K, voltage, profile_id)
        notes.extend(lookup.notes)
        required = max(lookup.lead_mm, minimum)
        shielding_required = True
        if lookup.lead_mm < minimum:
            notes.append(
                Note(
                    "p.62",
                    f"Table 2 gives {_fmt(lookup.lead_mm)} mm: raised to the minimum of 0.25 mm Pb",
                    "p62_minimum",
                )
            )

    layers = tuple(layer_lead_equivalent(layer, voltage, profile_id) for layer in barrier.layers)
    if len(layers) > 1:
        notes.append(Note("radsurvey", "the lead equivalents of the layers are added", "layers_added"))
    achieved = None
    if layers:
        installed = sum((layer.lead_equivalent_mm for layer in layers), Fraction(0))
        achieved = achieved_attenuation(installed, voltage, profile_id)
    return BarrierResult(
        apparatus=barrier.apparatus,
        beam=barrier.beam,
        category=barrier.category,
        distance_m=distance,
        K_R=k_r,
        workload_mA_min_per_week=workload,
        anode_voltage_kV=voltage,
        N=N,
        D0_uGy_h=D0,
        DMD_uGy_h=dmd,
        K=K,
        table_K_row=None if lookup.row is None else exact(lookup.row.K),
        table_lead_mm=lookup.lead_mm,
        lead_mm=required,
        shielding_required=shielding_required,
        layers=layers,
        notes=tuple(notes),
        achieved_K=achieved,
    )


def _fmt(value: Fraction) -> str:
    """A short decimal for messages."""
    return f"{float(value):.6g}"
