"""One barrier by App. 5 and App. 8, computed by hand: D0, K, the Table 2 row and lead, and the installed lead."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from radsurvey.protocols.errors import ShieldingError
from radsurvey.protocols.shielding.barrier import BarrierInput, Layer, calculate_barrier, required_lead


def barrier(**kwargs: object) -> BarrierInput:
    defaults: dict[str, object] = {
        "apparatus": "radiography",
        "distance_m": Decimal("2"),
        "beam": "primary",
        "category": 1,
    }
    defaults.update(kwargs)
    return BarrierInput(**defaults)  # type: ignore[arg-type]


def paragraphs(result) -> str:
    return " | ".join(f"{n.paragraph}: {n.text}" for n in result.notes)


def test_radiography_primary_beam_at_2_m_towards_group_a_needs_the_6000_row_at_100_kV() -> None:
    # D0 = 1000 * 9 * 1000 * 1 / (30 * 2^2) = 75 000 uGy/h; K = 75 000 / 13 = 5769.23 -> row 6000 -> 2.2 mm
    result = calculate_barrier(barrier())
    assert result.D0_uGy_h == 75000 and result.K == Fraction(75000, 13)
    assert (result.table_K_row, result.lead_mm) == (6000, Fraction(22, 10))
    assert "next row up, K = 6 000" in paragraphs(result)


def test_k_exactly_on_a_row_takes_that_row_where_floats_would_jump_to_the_next() -> None:
    # K_R 9 (100 kV), W 12 000, N 1, r 1.2 m, DMD 2.5: K = 10^3*9*12000/(30*1.44*2.5) = 1 000 000 exactly;
    # in floats the same product is 1000000.0000000001, whose next row up (1 500 000) asks for 4.2 mm.
    float_K = 1e3 * 9 * 12000 * 1 / (30 * 1.2**2 * 2.5)
    assert float_K > 1_000_000
    result = calculate_barrier(
        barrier(
            apparatus="other",
            workload_mA_min_per_week=Decimal("12000"),
            anode_voltage_kV=Decimal("100"),
            distance_m=Decimal("1.2"),
            category=2,
        )
    )
    assert result.K == 1_000_000 and result.table_K_row == 1_000_000 and result.lead_mm == 4
    assert "between Table 2 rows" not in paragraphs(result)


def test_ct_at_125_kV_takes_the_higher_neighbouring_k_r_and_interpolates_lead_in_kV() -> None:
    # K_R between 100 kV (9) and 150 kV (18): 18. D0 = 1000*18*400*0.1/(30*9) = 2666.67; K = 266.67 -> row 300;
    # row 300: 1.1 mm at 100 kV, 1.4 at 150 -> 1.25 mm at 125 kV
    result = calculate_barrier(barrier(apparatus="ct", beam="moving", distance_m=Decimal("3"), category=3))
    assert result.K_R == 18 and result.N == Fraction(1, 10)
    assert result.D0_uGy_h == Fraction(8000, 3) and result.K == Fraction(800, 3)
    assert result.table_K_row == 300 and result.lead_mm == Fraction(125, 100)
    text = paragraphs(result)
    assert "higher K_R of the two (18)" in text and "interpolated linearly in kV" in text


def test_mammography_below_the_first_column_uses_50_kV_and_p62_raises_thin_lead_to_a_quarter_mm() -> None:
    # K_R 2.0 (40 kV), W 200, N 0.05, r 2: D0 = 1000*2*200*0.05/(30*4) = 166.67; K = 166.67/10 = 16.67 -> row 20;
    # 50 kV column: 0.09 mm -> p.62: 0.25 mm
    result = calculate_barrier(barrier(apparatus="mammography", beam="scatter", category=3))
    assert result.K == Fraction(50, 3) and result.table_K_row == 20
    assert result.table_lead_mm == Fraction(9, 100) and result.lead_mm == Fraction(1, 4)
    text = paragraphs(result)
    assert "40 kV is below App. 8 Table 2's first column" in text and "p.62" in text


def test_a_k_in_the_k3_row_at_250_kV_reports_the_garbled_cell_and_takes_the_next_row_up() -> None:
    lookup = required_lead(Fraction(2), Fraction(250))
    assert lookup.row is not None and lookup.row.printed_K == "7" and lookup.lead_mm == Fraction(6, 10)
    assert any("garbled" in n.text and "0,2" in n.text for n in lookup.notes)


def test_the_empty_k3_cell_at_75_kV_also_stops_interpolation_beside_it() -> None:
    lookup = required_lead(Fraction(3), Fraction(80))
    assert lookup.row is not None and lookup.row.printed_K == "7"
    assert any("empty" in n.text for n in lookup.notes)


def test_no_attenuation_needed_still_asks_for_p62s_minimum() -> None:
    result = calculate_barrier(barrier(apparatus="dental_digital", beam="scatter", distance_m=Decimal("9"), category=4))
    assert result.K <= 1 and result.table_K_row is None and result.lead_mm == Fraction(1, 4)


def test_a_barrier_towards_the_ground_needs_no_shielding_p66() -> None:
    result = calculate_barrier(barrier(towards="ground"))
    assert not result.shielding_required and result.lead_mm == 0 and result.sufficient
    assert "p.66" in paragraphs(result)


def test_installed_brick_and_lead_add_their_lead_equivalents() -> None:
    # brick 1.8 g/cm3 at 100 kV: 195 mm = 2 mm Pb, 260 mm = 3 mm Pb -> 250 mm credited as 2 mm; + 1 mm lead = 3 mm
    result = calculate_barrier(barrier(layers=(Layer("brick_1_8", Decimal("250")), Layer("lead", Decimal("1")))))
    assert [layer.lead_equivalent_mm for layer in result.layers] == [2, 1]
    assert result.installed_lead_equivalent_mm == 3 and result.sufficient is True
    # 3 mm Pb at 100 kV reaches the 60 000 row (3.0 mm): predicted D = 75 000 / 60 000
    assert result.achieved_K == 60000 and result.predicted_uGy_h == Fraction(5, 4)


def test_a_denser_material_is_credited_as_more_of_the_tabulated_one() -> None:
    # concrete 2.3 at 100 kV: 160 mm = 2 mm Pb, 210 mm = 3 mm Pb. 150 mm at 2.3 -> 1 mm; at 3.22 -> 210 mm -> 3 mm
    plain = calculate_barrier(barrier(layers=(Layer("concrete", Decimal("150")),)))
    dense = calculate_barrier(barrier(layers=(Layer("concrete", Decimal("150"), Decimal("3.22")),)))
    assert plain.installed_lead_equivalent_mm == 1 and dense.installed_lead_equivalent_mm == 3
    assert "physics reverses" in " ".join(n.text for n in dense.layers[0].notes)


def test_table_3_interpolates_between_the_nearest_readable_columns() -> None:
    # gypsum 1.0 mm Pb: 290 mm at 50 kV, 200 mm at 100 kV; at 75 kV 245 mm (columns 60 and 75 are empty)
    at_245 = calculate_barrier(barrier(anode_voltage_kV=Decimal("75"), layers=(Layer("gypsum_board", Decimal("245")),)))
    at_244 = calculate_barrier(barrier(anode_voltage_kV=Decimal("75"), layers=(Layer("gypsum_board", Decimal("244")),)))
    assert at_245.installed_lead_equivalent_mm == 1 and at_244.installed_lead_equivalent_mm == Fraction(8, 10)


def test_glass_rubber_and_lead_plastic_from_tables_4_to_6() -> None:
    layers = (
        Layer("protective_glass", Decimal("20")),
        Layer("lead_rubber_ya1002", Decimal("2.5")),
        Layer("lead_plastic_pl1", Decimal("5")),
    )
    result = calculate_barrier(barrier(layers=layers))
    assert [layer.lead_equivalent_mm for layer in result.layers] == [5, Fraction(1, 2), Fraction(64, 100)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"apparatus": "laser"}, "apparatus: unknown apparatus 'laser'; known: fluorography_film"),
        (
            {"apparatus": "mammography"},
            "beam: p.65: shielding for mammography is calculated for scattered radiation only",
        ),
        ({"beam": "moving"}, "beam: N = 0.1 is for apparatus whose source moves during imaging"),
        ({"category": 8}, "category: unknown category 8; App. 7 rows: 1, 2, 3, 4, 5, 6, 7"),
        ({"distance_m": Decimal("0")}, "distance_m: must be > 0 m, got 0"),
        ({"apparatus": "densitometer_whole_body", "beam": "scatter"}, "anode_voltage_kV: give the apparatus's nominal"),
        ({"apparatus": "other"}, "workload_mA_min_per_week: apparatus other: give the workload"),
        ({"anode_voltage_kV": Decimal("300")}, "K_R: 300 kV is outside App. 8 Table 1"),
        ({"anode_voltage_kV": Decimal("300"), "K_R": Decimal("20")}, "above App. 8 Table 2's last column"),
        ({"distance_m": Decimal("0.001")}, "K: K = 2.30769e+10 is beyond App. 8 Table 2's last row"),
        ({"layers": (Layer("wood", Decimal("10")),)}, "unknown material 'wood'; known: lead, steel"),
        ({"layers": (Layer("lead_plastic_pp1", Decimal("15")),)}, "give a whole number of sheets"),
    ],
)
def test_bad_input_is_one_error_naming_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ShieldingError) as caught:
        calculate_barrier(barrier(**kwargs))
    assert message in str(caught.value) and "\n" not in str(caught.value)
