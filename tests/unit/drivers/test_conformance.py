"""What every registered driver promises (one test over registry.names())."""

from __future__ import annotations

import inspect

import pytest
from pydantic import BaseModel

from radsurvey.drivers import registry
from radsurvey.drivers.base import Driver
from radsurvey.drivers.emulator import DeviceModel

NAMES = registry.names()


def test_the_registry_lists_every_driver_folder() -> None:
    import importlib
    from pathlib import Path

    drivers_dir = Path(importlib.import_module("radsurvey.drivers").__file__).parent
    folders = {p.parent.name for p in drivers_dir.glob("*/driver.py")}
    assert folders, "no driver folder found"
    registered_folders = {registry.BUILTIN[n].rsplit(".", 1)[-1] for n in NAMES}
    assert folders == registered_folders, "a driver folder the registry misses, or a name without a folder"


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_complete(name: str) -> None:
    spec = registry.get(name)
    assert spec.name == name
    assert spec.summary
    assert issubclass(spec.options_model, BaseModel)
    assert spec.options_model.model_config.get("extra") == "forbid", "typos in options must be errors"
    assert callable(spec.factory)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_option_is_rejected(name: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        spec = registry.get(name)
        spec.options_model.model_validate({"definitely_not_an_option": 1})


@pytest.mark.parametrize("name", NAMES)
def test_driver_class_implements_the_contract(name: str) -> None:
    factory = registry.get(name).factory
    assert inspect.isclass(factory) and issubclass(factory, Driver)
    assert factory.name == name
    for method in ("open", "close", "identify", "read"):
        assert inspect.iscoroutinefunction(getattr(factory, method)), method


@pytest.mark.parametrize("name", [n for n in NAMES if n != "simulated"])
def test_hardware_drivers_ship_an_emulator_and_a_readme(name: str) -> None:
    import importlib
    from pathlib import Path

    spec = registry.get(name)
    assert spec.emulator, f"{name} has no emulator"
    made = registry.emulator_factory(name)
    assert callable(made)
    package = importlib.import_module(registry.BUILTIN[name])
    readme = Path(package.__file__).parent / "README.md"
    assert readme.is_file(), f"{name} has no README.md"
    text = readme.read_text()
    assert "Sample config" in text or "sample config" in text.lower()


# Emulators that serve through a server library of their own rather than as bytes on a pty.
SERVER_EMULATORS = {"modbus"}


@pytest.mark.parametrize("name", [n for n in NAMES if n != "simulated" and n not in SERVER_EMULATORS])
def test_byte_stream_emulators_are_device_models_that_answer(name: str) -> None:
    made = registry.emulator_factory(name)
    assert inspect.isclass(made) and issubclass(made, DeviceModel), f"{name}'s emulator is not a DeviceModel"
    assert made.receive is not DeviceModel.receive, f"{name}'s emulator answers nothing (receive not implemented)"


def test_scan_guesses_families_from_usb_ids() -> None:
    from radsurvey.daemon.cli.meters import family_guess

    # a CH340 bridge: a GMC, or a Rad Pro meter behind the same bridge (FS2011, FS-600/1000, GMC-800)
    assert family_guess(0x1A86, 0x7523) == ["gmc", "radpro"]
    assert family_guess(0x0483, 0x5740) == ["radpro"]  # GC-01/GC-03 native USB
    assert family_guess(0x10C4, 0xEA60) == ["radpro"]  # CP210x
    assert family_guess(0x0403, 0x6001) == ["radpro"]  # FTDI
    assert family_guess(0x046D, 0xC52B) == []  # not a serial bridge
    assert family_guess(None, None) == []
