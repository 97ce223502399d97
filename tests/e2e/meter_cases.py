"""One entry per driver with a pty emulator: how to start it and what it must read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from radsurvey.drivers.ascii.emulator import AsciiDevice
from radsurvey.drivers.emulator import DeviceModel
from radsurvey.drivers.gmc.emulator import GmcDevice
from radsurvey.drivers.radpro.emulator import RadProDevice
from radsurvey.drivers.scpi.emulator import ScpiDevice


@dataclass
class Case:
    driver: str
    device: Callable[[], DeviceModel]
    options: dict[str, Any] = field(default_factory=dict)
    # check(values, device) -> None: the values a subprocess read are what the device said
    check: Callable[[list[dict[str, Any]], Any], None] = lambda rows, device: None
    # how a pty path becomes the meter's address: (CLI arguments, config keys)
    where: Callable[[str], tuple[list[str], dict[str, Any]]] = lambda port: (["--port", port], {"port": port})


def _gmc_check(rows: list[dict[str, Any]], device: GmcDevice) -> None:
    served = set(device.cpm_served)
    cpms = [r["meter_value"] for r in rows]
    assert set(cpms) <= served and cpms == sorted(set(cpms)), (cpms, sorted(served))
    for r in rows:
        assert abs(r["value"] - r["meter_value"] / 153.8) < 1e-9


def _radpro_check(rows: list[dict[str, Any]], device: RadProDevice) -> None:
    # 500 pulses/s = 30000 cpm; the first reading is the meter's tubeRate, the rest pulse-count
    # deltas over the host's clock (about 100 pulses per 0.2 s poll, so +-1 pulse is +-1 %)
    for r in rows:
        assert 27_000 <= r["meter_value"] <= 33_000, r
        assert abs(r["value"] - r["meter_value"] / 153.8) < 1e-9


def _ascii_check(rows: list[dict[str, Any]], device: AsciiDevice) -> None:
    cpms = [r["meter_value"] for r in rows]
    assert set(cpms) <= set(device.cpm_sent) and cpms == sorted(set(cpms)), (cpms, device.cpm_sent)
    for r in rows:
        assert abs(r["value"] - r["meter_value"] / 175.4) < 1e-9


def _scpi_check(rows: list[dict[str, Any]], device: ScpiDevice) -> None:
    currents = [r["meter_value"] for r in rows]
    assert currents == sorted(set(currents)), currents
    assert all(any(abs(c - s) < 1e-18 for s in device.served) for c in currents), (currents, device.served)
    for r in rows:
        assert r["unit"] == "uGy/h" and abs(r["value"] - r["meter_value"] * 2.0e12) < 1e-6


def _visa(port: str) -> tuple[list[str], dict[str, Any]]:
    resource = f"ASRL{port}::INSTR"
    return ["--resource", resource], {"resource": resource}


CASES: dict[str, Case] = {
    "scpi": Case(
        "scpi",
        lambda: ScpiDevice(current_A=1.0e-12, step_A=1.0e-14),
        {"unit": "A", "scale": 2.0e12, "scaled_unit": "uGy/h"},
        _scpi_check,
        _visa,
    ),
    "ascii": Case(
        "ascii",
        lambda: AsciiDevice(profile="mightyohm", step=1, period_s=0.2),
        {"profile": "mightyohm", "sensitivity_cpm_per_uSv_h": 175.4},
        _ascii_check,
    ),
    "gmc": Case(
        "gmc", lambda: GmcDevice(step=1), {"sensitivity_cpm_per_uSv_h": 153.8, "read_clock": False}, _gmc_check
    ),
    "radpro": Case("radpro", lambda: RadProDevice(cps=500), {}, _radpro_check),
}
