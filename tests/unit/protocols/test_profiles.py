"""The kz-2008-303 profile: its numbers match the regulation and each one names its source."""

import pytest

from radsurvey.protocols.errors import ProfileError
from radsurvey.protocols.profiles import get_profile, list_profiles

TABLE1_KEYS = {
    "diagnostic_complex", "fluoroscopy", "radiography", "fluorography_film",
    "fluorography_scanning", "fluorography_ccd", "angiography", "ct", "surgical_c_arm",
    "ward_mobile", "urology_table", "mammography", "dental_film", "dental_digital", "panoramic",
    "therapy_simulator", "therapy_long_distance", "therapy_short_distance",
    "densitometer_whole_body", "densitometer_extremities", "densitometer_wide_beam",
    "densitometer_digital",
}  # fmt: skip


@pytest.fixture(scope="module")
def kz():
    return get_profile("kz-2008-303")


def test_the_kz_profile_is_listed():
    assert "kz-2008-303" in [p.id for p in list_profiles()]


def test_an_unknown_profile_id_raises_profile_error_listing_the_known_ids():
    with pytest.raises(ProfileError, match="kz-2008-303") as err:
        get_profile("kz-1999-1")
    assert "kz-1999-1" in str(err.value)


def test_the_profile_states_that_the_rules_were_repealed_in_2010(kz):
    assert "repealed 2010" in kz.status


def test_table1_keys_are_exactly_the_stable_keys_plus_the_app6_fallbacks(kz):
    keys = {w.key for w in kz.workloads}
    assert keys == TABLE1_KEYS | {"lithotripsy", "diagnostic_digital"}


def test_only_lithotripsy_and_digital_diagnostic_are_fallbacks_from_app6(kz):
    fallbacks = {w.key: w for w in kz.workloads if w.fallback}
    assert set(fallbacks) == {"lithotripsy", "diagnostic_digital"}
    assert all(w.source.startswith("App. 6 row") for w in fallbacks.values())


def test_table1_workloads_cite_app14_table1_rows(kz):
    for key in TABLE1_KEYS:
        assert kz.workload(key).source.startswith("App. 14 Table 1 row "), key


@pytest.mark.parametrize(
    ("key", "workload", "voltage"),
    [
        ("radiography", 1000, 100),
        ("fluorography_scanning", 2000, 100),
        ("fluorography_ccd", 50, 100),
        ("ct", 400, 125),
        ("mammography", 200, 40),
        ("dental_digital", 40, 70),
        ("therapy_long_distance", 1200, 250),
        ("therapy_short_distance", 5000, 100),
        ("densitometer_whole_body", 200, "nominal"),
        ("lithotripsy", 200, 90),
        ("diagnostic_digital", 1000, 100),
    ],
)
def test_workload_and_voltage_equal_the_domain_file(kz, key, workload, voltage):
    entry = kz.workload(key)
    assert entry.workload_mA_min_per_week == workload
    assert entry.voltage_kV == voltage


def test_long_distance_therapy_uses_1200_and_records_the_app6_12000(kz):
    entry = kz.workload("therapy_long_distance")
    assert entry.workload_mA_min_per_week == 1200
    assert entry.alternative is not None
    assert entry.alternative.value == 12000
    assert entry.alternative.source == "App. 6 row 17"
    assert "12 000" in entry.note


def test_room_category_limits_equal_table2(kz):
    dmd = [c.dmd_uSv_h for c in sorted(kz.categories, key=lambda c: c.number)]
    assert dmd == [13, 2.5, 10, 40, 1.3, 2.8, 0.3]


def test_room_category_hours_limits_and_groups_equal_table2(kz):
    rows = [(c.number, c.hours_per_year, c.dose_limit_mSv_per_year, c.exposed_group) for c in kz.categories]
    assert rows == [
        (1, 1500, 20, "A"),
        (2, 2000, 5, "B"),
        (3, 2000, 5, "B"),
        (4, 2000, 5, "B"),
        (5, 3000, 1, "public"),
        (6, 3000, 1, "public"),
        (7, 3000, 1, "public"),
    ]


def test_every_category_cites_its_table2_row(kz):
    for category in kz.categories:
        assert category.source == f"App. 14 Table 2 row {category.number}"


def test_every_tabulated_value_has_a_non_empty_source(kz):
    items = [
        *kz.workloads,
        *kz.categories,
        *kz.survey_reasons,
        *kz.apparatus_types,
        *kz.point_kinds,
        kz.standard_week_min,
        kz.effective_conversion,
        kz.height_tolerance_cm,
        kz.min_repeats,
        kz.height_weights,
        *kz.formula3.values(),
        kz.formula4,
        kz.instrument,
    ]
    assert all(item.source.strip() for item in items)


def test_formula_constants_equal_the_regulation(kz):
    assert kz.standard_week_min.value == 1800
    assert kz.effective_conversion.value == 0.5
    assert kz.height_tolerance_cm.value == 20
    assert kz.min_repeats.value == 3
    assert kz.height_weights.weights == {160: 0.15, 120: 0.30, 80: 0.50, 30: 0.05}


def test_formula3_has_the_literal_and_the_conservative_reading(kz):
    literal, conservative = kz.formula3["literal"], kz.formula3["conservative"]
    assert (literal.factor, literal.weights) == (0.25, {80: 1.0, 120: 0.5})
    assert (conservative.factor, conservative.weights) == (0.25, {80: 1.0, 120: 1.0})


def test_instrument_requirements_equal_app14_p32(kz):
    inst = kz.instrument
    assert (inst.energy_min_keV, inst.energy_max_keV) == (15, 3000)
    assert (inst.dose_rate_min_uGy_h, inst.dose_rate_max_uGy_h) == (0.1, 1000)
    assert inst.basic_error_percent == 20
    assert inst.verification_certificate_required


def test_six_survey_reasons_from_app14_p5(kz):
    assert [r.key for r in kz.survey_reasons] == [
        "sanitary_conclusion",
        "acceptance",
        "technical_passport",
        "sanitary_passport",
        "changed_conditions",
        "scheduled_or_as_needed",
    ]


def test_eleven_apparatus_types_from_app14_p4(kz):
    assert len(kz.apparatus_types) == 11
    assert [a.source for a in kz.apparatus_types] == [f"App. 14 p.4 item {n}" for n in range(1, 12)]


def test_point_kinds_carry_their_measurement_heights(kz):
    heights = {k.key: k.heights_cm for k in kz.point_kinds}
    assert heights == {
        "workplace": (30, 80, 120, 160),
        "wall": (80, 120),
        "above": (80,),
        "below": (120,),
        "door_window_joint": (),
        "territory": (),
        "ward": (),
    }
