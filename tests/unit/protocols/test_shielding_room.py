"""A room's shielding design: every apparatus per barrier (p.64), the verdicts, and one line per bad field."""

from __future__ import annotations

from fractions import Fraction
from importlib import resources

import pytest

from radsurvey.protocols.errors import ShieldingError
from radsurvey.protocols.shielding.room import calculate_room, parse_room_text

EXAMPLE = resources.files("radsurvey.protocols.examples").joinpath("shielding-room.toml").read_text(encoding="utf-8")


def room(text: str = EXAMPLE):
    return calculate_room(parse_room_text(text, "room.toml"), source="room.toml")


def test_the_example_room_by_hand() -> None:
    result = room()
    by_id = {b.barrier.id: b for b in result.barriers}
    # W1: radiography primary at 2 m -> 2.2 mm; fluoroscopy scatter at 3 m: D0 = 1666.67, K = 128.2 -> row 150 -> 0.9
    w1 = by_id["W1"]
    assert [(a, r.lead_mm) for a, r in w1.results] == [("rad", Fraction(22, 10)), ("fluoro", Fraction(9, 10))]
    assert w1.required_lead_mm == Fraction(22, 10) and w1.governing[0] == "rad"
    assert w1.installed_lead_equivalent_mm == 3 and w1.sufficient
    # W2: scatter at 3 m, category 3: K = 1666.67 / 10 = 166.67 -> row 200 -> 1.0 mm; 160 mm concrete = 2 mm Pb
    assert (by_id["W2"].required_lead_mm, by_id["W2"].installed_lead_equivalent_mm) == (1, 2)
    # C1: scatter at 2.5 m, ward: D0 = 2400, K = 1846.15 -> row 2000 -> 1.7 mm; 200 mm concrete = 2 mm Pb
    c1 = by_id["C1"].results[0][1]
    assert (c1.D0_uGy_h, c1.table_K_row, c1.lead_mm) == (2400, 2000, Fraction(17, 10))
    # F1 faces the ground (p.66); D1: K = 122.4 -> row 150 -> 0.9 mm against 0.5 mm of lead
    assert by_id["F1"].sufficient and not by_id["F1"].results[0][1].shielding_required
    assert by_id["D1"].required_lead_mm == Fraction(9, 10) and by_id["D1"].sufficient is False
    assert result.sufficient is False


def test_the_json_document_lists_every_barrier_with_its_apparatus() -> None:
    doc = room().to_dict()
    assert doc["schema"] == "radsurvey.shielding-calculation/1"
    assert [b["id"] for b in doc["barriers"]] == ["W1", "W2", "C1", "F1", "D1"]
    assert [a["id"] for a in doc["barriers"][0]["apparatus"]] == ["rad", "fluoro"]
    assert "p.66" in doc["barriers"][3]["paragraphs"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('schema = "radsurvey.shielding-room/1"', 'schema = "x"'), "room.toml: schema: must be"),
        (('apparatus = "fluoro", distance_m = 3', 'apparatus = "tube", distance_m = 3'), "no apparatus 'tube'"),
        (
            ("distance_m = 2.5", "distance_m = -2.5"),
            "room.toml: barriers[2].exposure[0].distance_m: Input should be greater than 0",
        ),
        (
            ('beam = "primary" },\n  { apparatus = "fluoro"', 'beam = "side" },\n  { apparatus = "fluoro"'),
            "barriers[0].exposure[0].beam",
        ),
        (
            ('material = "concrete", thickness_mm = 200', 'material = "wood", thickness_mm = 200'),
            "room.toml: barriers[C1].exposure[0].layers[wood].material: unknown material 'wood'",
        ),
        (('id = "W2"', 'id = "W1"'), "barriers: duplicate key 'W1'"),
    ],
)
def test_bad_room_files_are_one_line_naming_the_field(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in EXAMPLE
    with pytest.raises(ShieldingError) as caught:
        room(EXAMPLE.replace(old, new, 1))
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_a_fluorograph_with_a_protective_cabin_is_scatter_only_and_divides_d0_by_the_cabin() -> None:
    text = EXAMPLE.replace('type = "fluoroscopy"', 'type = "fluorography_film"\ncabin_attenuation = 10', 1)
    w1 = {b.barrier.id: b for b in room(text).barriers}["W1"]
    fluoro = dict(w1.results)["fluoro"]
    # scatter at 3 m: D0 = 1000 * 9 * 1000 * 0.05 / (30 * 9) = 1666.67, / 10 for the cabin
    assert fluoro.D0_uGy_h == Fraction(5000, 3) / 10
    assert any(n.paragraph == "App. 6 note 1" for n in fluoro.notes)
    primary = text.replace(
        '{ apparatus = "fluoro", distance_m = 3, beam = "scatter" }',
        '{ apparatus = "fluoro", distance_m = 3, beam = "primary" }',
    )
    with pytest.raises(ShieldingError, match=r"barriers\[W1\].exposure\[1\].beam: p.65"):
        room(primary)


def test_a_density_is_refused_for_lead() -> None:
    text = EXAMPLE.replace(
        '{ material = "lead", thickness_mm = 1 }', '{ material = "lead", thickness_mm = 1, density_g_cm3 = 11.3 }'
    )
    with pytest.raises(
        ShieldingError, match=r"layers\[lead\].density_g_cm3: a density applies to the building materials"
    ):
        room(text)
