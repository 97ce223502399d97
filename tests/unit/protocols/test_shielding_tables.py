"""The shielding tables (App. 5-8, 16) read back, cell by cell, from the lines of the seed they cite."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from radsurvey.protocols.shielding import shielding_data
from tests.seed_text import line, value_lines

DATA = shielding_data()


def decimal(printed: str) -> Fraction:
    return Fraction(printed.replace(",", ".").replace(" ", ""))


def lines_of(source: str) -> tuple[int, int]:
    """(Russian line, Kazakh line) of a single-cell source ``Lx (kk Ly)``."""
    found = re.fullmatch(r"L(\d+) \(kk L(\d+)\)", source)
    assert found, source
    return int(found[1]), int(found[2])


def same(printed: str, text: str) -> bool:
    return printed.replace(".", ",") == text.replace(".", ",")


LEAD_CELLS = [(row, cell) for row in DATA.lead_table.rows for cell in row.cells]


@pytest.mark.parametrize(
    "row,cell", LEAD_CELLS, ids=[f"K{r.printed_K}-{c.anode_voltage_kV:g}kV" for r, c in LEAD_CELLS]
)
def test_every_table_2_cell_is_printed_at_its_lines_in_both_copies_and_in_its_column(row, cell) -> None:
    ru, kk = lines_of(cell.source)
    assert same(cell.printed, line(ru)) and same(cell.printed, line(kk))
    assert decimal(cell.printed) == Fraction(repr(cell.lead_mm))
    k_ru, k_kk = lines_of(row.source)
    assert line(k_ru) == row.printed_K == line(k_kk)
    column = DATA.lead_table.voltages_kV.index(cell.anode_voltage_kV)
    assert ru == k_ru + 2 + 2 * column and kk == k_kk + 2 + 2 * column  # K cell, then one cell per column


def test_table_2_has_41_rows_of_6_cells_except_the_two_unreadable_ones() -> None:
    assert len(DATA.lead_table.rows) == 41
    assert [r.printed_K for r in DATA.lead_table.rows][:3] == ["3", "7", "10"]
    assert DATA.lead_table.rows[-1].printed_K == "10 000 000"
    assert sum(len(r.cells) for r in DATA.lead_table.rows) == 41 * 6 - 2


def test_the_k3_row_reports_75_kV_as_empty_and_250_kV_as_garbled_with_what_is_printed() -> None:
    k3 = DATA.lead_table.rows[0]
    empty, garbled = k3.unreadable
    assert (empty.anode_voltage_kV, empty.printed, line(lines_of(empty.source)[0])) == (75, "-", "-")
    assert (garbled.anode_voltage_kV, garbled.printed, line(lines_of(garbled.source)[1])) == (250, "0,2", "0,2")
    assert "empty" in empty.reason and "garbled" in garbled.reason


def test_k_row_values_match_their_printed_text() -> None:
    for row in DATA.lead_table.rows:
        assert decimal(row.printed_K) == Fraction(repr(row.K))


@pytest.mark.parametrize("workload", DATA.workloads, ids=lambda w: w.key)
def test_every_design_workload_and_voltage_is_printed_at_its_lines(workload) -> None:
    found = re.search(r"L(\d+)-(\d+) \(kk L(\d+)(?:-(\d+))?\)", workload.source)
    assert found
    ru_w, ru_u, kk_w, kk_u = found.groups()
    assert line(int(ru_w)) == workload.printed_workload
    assert decimal(workload.printed_workload.split(" 1)")[0]) == Fraction(repr(workload.workload_mA_min_per_week))
    assert same(workload.printed_workload.replace(" ", ""), line(int(kk_w)).replace(" ", ""))
    assert line(int(ru_u)) == workload.printed_voltage
    if workload.voltage_kV == "nominal":
        assert workload.printed_voltage == "Номинальное" and kk_u is None
    else:
        assert (
            decimal(workload.printed_voltage) == Fraction(repr(workload.voltage_kV))
            and line(int(kk_u)) == workload.printed_voltage
        )


def test_long_distance_therapy_uses_app_6s_12000_and_notes_app_14s_1200() -> None:
    therapy = next(w for w in DATA.workloads if w.key == "therapy_long_distance")
    assert therapy.workload_mA_min_per_week == 12000 and "1200" in therapy.note


@pytest.mark.parametrize("category", DATA.categories, ids=lambda c: str(c.number))
def test_every_app_7_row_is_printed_at_its_lines_in_both_copies(category) -> None:
    found = re.search(r"L(\d+)-\d+ \(kk L(\d+)-\d+\)", category.source)
    assert found
    ru, kk = int(found[1]), int(found[2])
    printed = category.printed.split(" | ")
    assert [line(ru + 2 * i) for i in range(5)] == printed
    assert all(same(p, line(kk + 2 * i)) for i, p in enumerate(printed))
    values = [
        category.dmd_uGy_h,
        category.occupancy_T,
        category.shift_n,
        category.exposure_h_per_year,
        category.dose_limit_mSv_per_year,
    ]
    assert [decimal(p) for p in printed] == [Fraction(repr(v)) for v in values]


def test_app_7_dmd_values_are_the_tabulated_ones() -> None:
    assert [c.dmd_uGy_h for c in DATA.categories] == [13, 2.5, 10, 40, 1.3, 2.8, 0.3]


@pytest.mark.parametrize("column", DATA.radiation_output, ids=lambda c: f"{c.anode_voltage_kV:g}kV")
def test_every_radiation_output_is_printed_at_its_lines(column) -> None:
    found = re.search(r"L(\d+)-(\d+) \(kk L(\d+)-(\d+)\)", column.source)
    assert found
    ru_u, ru_k, kk_u, kk_k = map(int, found.groups())
    assert decimal(line(ru_u)) == decimal(line(kk_u)) == Fraction(repr(column.anode_voltage_kV))
    assert line(ru_k) == column.printed == line(kk_k)
    assert decimal(column.printed) == Fraction(repr(column.K_R))


# --- Table 3 ------------------------------------------------------------------------------------

MATERIAL_CELLS = [(m, row, cell) for m in DATA.building_materials for row in m.rows for cell in row.cells]


def russian_grid_slot(row_line: int, cell_line: int) -> int:
    """The column a Russian Table 3 cell sits in: cells two lines apart, an extra blank line per lost cell."""
    slot, last = -1, row_line
    for number in range(row_line + 1, cell_line + 1):
        if line(number):
            slot += number - last - 1
            last = number
    return slot


@pytest.mark.parametrize(
    "material,row,cell",
    MATERIAL_CELLS,
    ids=[f"{m.key}-{r.printed_lead}-{c.anode_voltage_kV:g}kV" for m, r, c in MATERIAL_CELLS],
)
def test_every_table_3_cell_kept_is_printed_in_both_copies_in_its_column(material, row, cell) -> None:
    ru, kk = lines_of(cell.source)
    assert line(ru) == cell.printed and same(cell.printed, line(kk))
    assert decimal(cell.printed) == Fraction(repr(cell.thickness_mm))
    row_ru, row_kk = lines_of(row.source)
    assert same(line(row_ru), row.printed_lead) and same(line(row_kk), row.printed_lead)
    assert russian_grid_slot(row_ru, ru) == DATA.material_table.voltages_kV.index(cell.anode_voltage_kV)


def test_table_3_keeps_295_numbers_and_leaves_out_five_printed_ones_with_reasons() -> None:
    left = {
        (m.key, r.printed_lead, u.anode_voltage_kV, u.printed)
        for m in DATA.building_materials
        for r in m.rows
        for u in r.left_out
    }
    assert left == {
        ("concrete", "8", 150, "560"),
        ("concrete", "10", 50, "4"),
        ("barite_concrete", "6", 150, "20"),
        ("barite_concrete", "6", 200, "26"),
        ("gypsum_board", "0,4", 200, "ПО"),
    }
    assert len(MATERIAL_CELLS) == 295


def test_each_material_column_kept_increases_with_the_lead_thickness() -> None:
    for material in DATA.building_materials:
        for kv in DATA.material_table.voltages_kV:
            column = [c.thickness_mm for r in material.rows for c in r.cells if c.anode_voltage_kV == kv]
            assert column == sorted(column) and len(set(column)) == len(column), (material.key, kv)


@pytest.mark.parametrize("material", DATA.building_materials, ids=lambda m: m.key)
def test_every_density_is_printed_at_its_lines(material) -> None:
    found = re.search(r"L\d+-(\d+) \(kk L\d+-(\d+)\)", material.source)
    assert found
    assert line(int(found[1])) == material.printed_density and same(material.printed_density, line(int(found[2])))
    assert decimal(material.printed_density) == Fraction(repr(material.density_g_cm3))


def test_tables_4_to_6_are_printed_at_their_lines() -> None:
    for product in DATA.lead_plastic:
        ru, kk = value_lines(product.source)
        assert line(ru) == product.printed and line(kk) == product.printed
    for glass in DATA.protective_glass:
        ru, kk = value_lines(glass.source)
        assert line(ru) == glass.printed == line(kk)
        assert decimal(line(ru - 2)) == Fraction(repr(glass.thickness_mm))
    for rubber in DATA.lead_rubber:
        found = re.search(r"L(\d+)-(\d+) \(kk L(\d+)-(\d+)\)", rubber.source)
        assert found
        t_ru, v_ru, t_kk, v_kk = map(int, found.groups())
        assert f"{line(t_ru)} | {line(v_ru)}" == rubber.printed == f"{line(t_kk)} | {line(v_kk)}"
