"""App. 10: minimum lead equivalents of protective equipment, read back from the seed and checked exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from radsurvey.protocols.errors import ProfileError, SurveyError
from radsurvey.protocols.shielding import (
    check_equipment,
    equipment_minimum,
    equipment_minimums,
)
from tests.seed_text import line, value_lines


@pytest.mark.parametrize("item", equipment_minimums(), ids=lambda i: i.key)
def test_every_minimum_is_printed_at_its_cited_lines_in_both_languages(item) -> None:
    ru, kk = value_lines(item.source)
    assert line(ru) == item.printed
    assert line(kk) == item.printed
    low = item.printed.split("-")[-1]
    assert Fraction(low.replace(",", ".")) == Fraction(repr(item.minimum_lead_mm))


def test_the_two_tables_have_five_mobile_and_twenty_two_personal_rows() -> None:
    assert len(equipment_minimums(group="mobile")) == 5
    assert len(equipment_minimums(group="personal")) == 22
    assert len({i.key for i in equipment_minimums()}) == 27


def test_items_split_by_surface_and_weight_carry_part_and_variant() -> None:
    vest = equipment_minimum("vest_rest_light")
    assert (vest.part, vest.variant, vest.minimum_lead_mm) == ("rest of the surface", "light", 0.15)
    assert vest.text == "Protective vest, rest of the surface, light"


def test_plates_printed_as_a_range_take_its_lower_end_and_say_so() -> None:
    plates = equipment_minimum("plates")
    assert plates.printed == "1,0-0,5" and plates.minimum_lead_mm == 0.5
    assert "lower end" in plates.note


def test_an_item_exactly_at_its_minimum_is_sufficient_and_just_below_is_not() -> None:
    at = check_equipment("apron_one_sided_heavy", 0.35)
    assert at.sufficient and at.minimum_lead_mm == Fraction(35, 100)
    below = check_equipment("apron_one_sided_heavy", Decimal("0.349"))
    assert not below.sufficient and below.lead_equivalent_mm == Fraction(349, 1000)


def test_an_unknown_item_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match="unknown protective equipment 'apron'; known: screen_large"):
        equipment_minimum("apron")


def test_a_negative_lead_equivalent_is_refused() -> None:
    with pytest.raises(SurveyError, match="lead_equivalent_mm: must be >= 0"):
        check_equipment("cap", -0.1)


def test_a_profile_without_shielding_tables_says_so() -> None:
    with pytest.raises(ProfileError, match="'ir-1973-limits' has no shielding tables"):
        equipment_minimums("ir-1973-limits")
