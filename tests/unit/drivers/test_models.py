"""The model tables (drivers/<name>/models.py): complete, matching what the drivers report, in the READMEs."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsurvey.drivers import models
from radsurvey.drivers.builtin import BUILTIN
from radsurvey.drivers.models import DetectorKind, model_for, models_of, p32_problems, table_rows

DRIVERS = Path(__file__).resolve().parents[3] / "drivers"
WITH_TABLE = sorted(n for n in BUILTIN if n != "simulated")


@pytest.mark.parametrize("driver", WITH_TABLE)
def test_every_meter_driver_has_a_model_table_of_its_own(driver: str) -> None:
    table = models_of(driver)
    assert table, driver
    assert {m.driver for m in table} == {driver}
    assert len({m.model for m in table}) == len(table)


def test_the_simulated_driver_has_no_models() -> None:
    assert models_of("simulated") == ()


@pytest.mark.parametrize("model", models.all_models(), ids=lambda m: m.model)
def test_every_range_is_complete_and_ordered(model: models.InstrumentModel) -> None:
    for lo, hi in (
        (model.energy_min_keV, model.energy_max_keV),
        (model.dose_rate_uSv_h_min, model.dose_rate_uSv_h_max),
    ):
        assert (lo is None) == (hi is None), model
        if lo is not None and hi is not None:
            assert 0 < lo < hi
    assert model.source and model.identity_prefixes


@pytest.mark.parametrize("driver", WITH_TABLE)
def test_each_driver_readme_shows_its_model_table_as_in_the_code(driver: str) -> None:
    readme = (DRIVERS / driver / "README.md").read_text(encoding="utf-8")
    for row in table_rows(models_of(driver)):
        assert row in readme, f"drivers/{driver}/README.md lacks: {row}"


def test_every_gmc_the_emulator_knows_is_in_the_table() -> None:
    from radsurvey.drivers.gmc import codec
    from radsurvey.drivers.gmc.emulator import DEVICES

    for key, device in DEVICES.items():
        model, _ = codec.parse_version(device.version)
        assert model_for("gmc", model) is not None, key


def test_every_rad_pro_device_is_in_the_table() -> None:
    for hardware in ("FS2011 (STM32F051C8)", "GQ GMC-800 (GD32F103RC)", "FNIRSI GC-01 (CH32F103R8)", "Bosean FS-600"):
        assert model_for("radpro", hardware) is not None, hardware


def test_every_shipped_ascii_profile_is_in_the_table() -> None:
    for profile in (DRIVERS / "ascii" / "profiles").glob("*.toml"):
        assert model_for("ascii", profile.stem) is not None, profile.stem


@pytest.mark.parametrize("model", [m for m in models.all_models() if m.detector_kind is DetectorKind.GM_TUBE])
def test_a_gm_counter_fails_p32_on_energy_and_pulsed_fields(model: models.InstrumentModel) -> None:
    assert [p.code for p in model.fitness()] == ["energy_range", "pulsed_field"]


def test_p32_problems_come_from_the_connected_meters_identity() -> None:
    texts = [p.text for p in p32_problems("gmc", "GMC-500+")]
    assert len(texts) == 2 and "15 keV" in texts[0] and "pulsed" in texts[1]
    assert p32_problems("gmc", "GMC-999") == []  # not in the table: nothing claimed
    assert p32_problems("no-such-driver", "x") == []


def test_a_known_energy_range_is_judged_against_the_required_one() -> None:
    model = models.InstrumentModel(
        "x", "X", ("X",), "scintillator", DetectorKind.SCINTILLATOR, 20.0, 3000.0, 0.01, 1000.0, True, "test"
    )
    assert [p.code for p in model.fitness()] == ["energy_range"]
    assert model.fitness(energy_min_keV=20, energy_max_keV=3000) == []
