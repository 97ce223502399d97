"""Profiles as data users bring: the limits-only format, ir-1973-limits, user directories, checks with key paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from radsurvey.protocols import profiles
from radsurvey.protocols.errors import ProfileError

SHIPPED = Path(profiles.__file__).parent


@pytest.fixture
def user_dir(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "profiles"
    d.mkdir()
    profiles.set_search_path([("user", d)])
    yield d
    profiles.set_search_path([])


def kz_copy(new_id: str, dmd_category_3: str = "10") -> str:
    text = (SHIPPED / "kz_2008_303.toml").read_text(encoding="utf-8")
    text = text.replace('id = "kz-2008-303"', f'id = "{new_id}"', 1)
    return text.replace("dmd_uSv_h = 10\n", f"dmd_uSv_h = {dmd_category_3}\n", 1)


def test_ir_1973_limits_carry_the_seed_values_converted_from_rem_with_the_conversion_recorded() -> None:
    ir = profiles.find_profile("ir-1973-limits")
    assert not ir.has_survey_method and ir.rem_to_mSv is not None and ir.rem_to_mSv.value == 10
    got = {
        key: profiles.get_dose_limit("ir-1973-limits", key)
        for key in ("whole_body_week", "whole_body_13_weeks", "whole_body_year")
    }
    assert [(g.period, g.mSv) for g in got.values()] == [("week", 3.0), ("13_weeks", 30.0), ("year", 50.0)]
    assert got["whole_body_week"].source == "001:Art 3(c), L49"
    assert got["whole_body_week"].derivation == "300 mrem x 10 mSv/rem / 1000"


def test_the_outside_supervised_areas_limits_are_10_percent_of_art_3_exactly() -> None:
    values = {
        k: profiles.get_dose_limit("ir-1973-limits", k).mSv
        for k in ("outside_week", "outside_13_weeks", "outside_year")
    }
    assert values == {"outside_week": 0.3, "outside_13_weeks": 3.0, "outside_year": 5.0}
    assert "001:Art 8" in profiles.get_dose_limit("ir-1973-limits", "outside_week").source


def test_a_limits_profile_is_not_a_survey_method() -> None:
    with pytest.raises(ProfileError, match="dose limits only, no survey method"):
        profiles.get_profile("ir-1973-limits")


def test_kz_categories_carry_the_app7_occupancy_factors() -> None:
    kz = profiles.get_profile("kz-2008-303")
    t = [(c.number, c.occupancy_factor.value if c.occupancy_factor else None) for c in kz.categories]
    assert t == [(1, 1), (2, 1), (3, 0.25), (4, 0.06), (5, 0.25), (6, 0.12), (7, 1)]
    assert all(
        c.occupancy_factor and c.occupancy_factor.source.startswith(f"App. 7 row {c.number}") for c in kz.categories
    )


def test_a_user_profile_in_the_user_directory_is_listed_and_used(user_dir: Path) -> None:
    (user_dir / "clinic.toml").write_text(kz_copy("clinic-strict", "5"), encoding="utf-8")
    listed = {e.profile.id: e for e in profiles.entries()}
    assert listed["clinic-strict"].origin == "user" and listed["clinic-strict"].path == str(user_dir / "clinic.toml")
    assert profiles.get_profile("clinic-strict").category(3).dmd_uSv_h == 5


def test_a_user_profile_cannot_replace_a_shipped_one(user_dir: Path) -> None:
    (user_dir / "kz.toml").write_text(kz_copy("kz-2008-303", "99"), encoding="utf-8")
    assert profiles.get_profile("kz-2008-303").category(3).dmd_uSv_h == 10
    assert any("is a shipped profile" in line for line in profiles.search_problems())


def test_a_profile_named_by_its_file_is_loaded_and_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(profiles, "_files", {})  # registered files are process-wide: keep other tests clean
    path = tmp_path / "site-limits.toml"
    path.write_text(
        'schema = "radsurvey.limits/1"\nid = "site-limits-test"\ntitle = "t"\nsource = "s"\nstatus = "st"\n'
        '[[limits]]\nkey = "year"\ndescription = "d"\nperiod = "year"\napplies_to = "a"\nsource = "s"\nvalue_mSv = 2\n',
        encoding="utf-8",
    )
    assert profiles.find_profile(str(path)).id == "site-limits-test"
    assert profiles.get_dose_limit("site-limits-test", "year").mSv == 2


def test_check_gives_one_line_per_problem_with_its_key_path() -> None:
    text = (
        'schema = "radsurvey.limits/1"\nid = "x"\ntitle = "t"\nsource = "s"\nstatus = "st"\n'
        '[[limits]]\nkey = "a"\ndescription = "d"\nperiod = "fortnight"\napplies_to = "a"\nsource = "s"\n'
        "value_mSv = 1\n"
        '[[limits]]\nkey = "b"\ndescription = "d"\nperiod = "week"\napplies_to = "a"\nsource = "s"\nvalue_mSv = -1\n'
    )
    lines = profiles.check_profile_text(text, "f.toml")
    assert len(lines) == 2
    assert lines[0].startswith("f.toml: limits[0].period: ")
    assert lines[1].startswith("f.toml: limits[1].value_mSv: ")


def test_a_rem_value_that_does_not_convert_to_its_mSv_is_refused() -> None:
    text = (
        'schema = "radsurvey.limits/1"\nid = "x"\ntitle = "t"\nsource = "s"\nstatus = "st"\n'
        '[rem_to_mSv]\nvalue = 10\nsource = "1 rem = 10 mSv"\n'
        '[[limits]]\nkey = "w"\ndescription = "d"\nperiod = "week"\napplies_to = "a"\nsource = "s"\n'
        'value_mSv = 30\noriginal_value = 300\noriginal_unit = "mrem"\n'
    )
    (line,) = profiles.check_profile_text(text, "f.toml")
    assert line == "f.toml: limits[0].value_mSv: 300 mrem is 3 mSv, not 30"


def test_an_unknown_schema_is_named() -> None:
    (line,) = profiles.check_profile_text('schema = "radsurvey.profile/9"\n', "f.toml")
    assert line.startswith("f.toml: schema: must be one of radsurvey.profile/1, radsurvey.limits/1")


def test_the_json_schema_describes_both_kinds() -> None:
    schema = profiles.json_schema()
    titles = {d.get("title") for d in schema["$defs"].values()} | {schema.get("title")}
    assert {"Profile", "LimitsProfile", "DoseLimit"} <= titles


def test_kz_holds_the_p107_periodicity_as_data_with_its_source_lines() -> None:
    kz = profiles.get_profile("kz-2008-303")
    rooms = kz.control_period("workplace_dose_rate")
    assert rooms is not None and rooms.months == 3 and rooms.source.startswith("p.107(1), L339")
    equipment = kz.control_period("protective_equipment")
    assert equipment is not None and equipment.months == 24
    patients = kz.control_period("patient_dose")
    assert patients is not None and patients.per_examination and patients.months is None
    assert [u.key for u in kz.unplanned_control] == [
        "purpose_changed",
        "tube_replaced",
        "protection_replaced",
        "accident",
    ]


def test_ir_1973_inspects_protective_devices_every_three_months() -> None:
    period = profiles.find_profile("ir-1973-limits").control_period("protective_equipment")
    assert period is not None and period.months == 3 and "Art 12" in period.source


def test_a_control_period_needs_months_or_per_examination(user_dir: Path) -> None:
    text = kz_copy("kz-periods").replace("months = 3\n", "", 1)
    path = user_dir / "kz-periods.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=r"control_periods\[0\]: give either months or per_examination"):
        profiles.load_profile_file(path)
