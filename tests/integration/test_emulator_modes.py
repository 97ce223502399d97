"""Driver conformance: every driver reads every quirk mode of its emulator on a real pty,
with only where to connect (and the ascii profile) as options."""

from __future__ import annotations

import asyncio

import pytest

from radsurvey.drivers import registry
from radsurvey.drivers.emulator import PtyEmulator, TcpEmulator
from radsurvey.protocols.errors import FrameError
from tests.emulator_modes import MODES, Mode


def connect_options(mode: Mode, port: str, device) -> dict:
    if mode.driver == "scpi":
        return {"resource": f"ASRL{port}::INSTR"}
    return {"port": port, **device.driver_options()}


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.id)
async def test_driver_reads_the_mode_with_no_extra_option(mode: Mode) -> None:
    device = registry.emulator_factory(mode.driver)(**mode.settings)
    with TcpEmulator(device) if mode.extra.get("tcp") else PtyEmulator(device) as emu:
        driver = registry.create(
            mode.driver, meter_id="m", poll_interval_s=0.2, options=connect_options(mode, emu.port, device)
        )
        async with asyncio.timeout(mode.read_timeout_s):
            async with driver:
                rows = []
                for _ in range(mode.count):
                    rows.append((await driver.read()).as_dict())
                    if not driver.self_paced:
                        await asyncio.sleep(0.2)
    mode.check(rows, driver.identity.as_dict())


def test_every_emulator_with_modes_is_covered() -> None:
    assert {m.driver for m in MODES} == {"gmc", "radpro", "ascii", "scpi", "radiacode", "radeye"}


async def test_the_gmc_driver_on_rad_pro_says_to_use_the_radpro_driver() -> None:
    device = registry.emulator_factory("radpro")(gmc800=True)
    with PtyEmulator(device) as emu:
        driver = registry.create("gmc", meter_id="m", poll_interval_s=1.0, options={"port": emu.port})
        with pytest.raises(FrameError, match='runs the Rad Pro firmware; use driver = "radpro"'):
            async with driver:
                pass


async def test_the_gmc_driver_at_a_wrong_configured_baud_rate_finds_the_meter_and_says_so() -> None:
    device = registry.emulator_factory("gmc")(model="gmc-500+-2.28")
    with PtyEmulator(device) as emu:
        options = {"port": emu.port, "baudrate": 57600}
        async with registry.create("gmc", meter_id="m", poll_interval_s=1.0, options=options) as driver:
            await driver.read()
    assert driver.identity.extra["baudrate"] == "115200"
    assert driver.identity.extra["baudrate_source"] == "auto-baud (configured 57600 did not answer)"


async def test_auto_baud_off_keeps_the_configured_rate_and_times_out() -> None:
    from radsurvey.drivers.errors import MeterTimeout

    device = registry.emulator_factory("gmc")(model="gmc-300e+-4.54")
    with PtyEmulator(device) as emu:
        options = {"port": emu.port, "baudrate": 115200, "auto_baud": False, "timeout_s": 0.3}
        with pytest.raises(MeterTimeout):
            async with registry.create("gmc", meter_id="m", poll_interval_s=1.0, options=options):
                pass


async def test_the_stale_bytes_mode_spoils_getver_after_a_short_drain_as_the_field_reports() -> None:
    """The defect the mode reproduces: 0.1's connect (HEARTBEAT0, 0.2 s, flush, GETVER) fails on it."""
    from radsurvey.drivers.gmc import codec
    from radsurvey.drivers.transport import SerialLink

    device = registry.emulator_factory("gmc")(model="gmc-500+-2.28", stale_bytes=True)
    with PtyEmulator(device) as emu:
        link = SerialLink(port=emu.port, baudrate=115200, meter="m")
        await link.open()
        try:
            await link.write(codec.command("HEARTBEAT0"))
            await asyncio.sleep(0.2)
            link.discard_input()
            await link.write(codec.command("GETVER"))
            raw = await link.read_quiet(timeout_s=1.0, gap_s=0.1, max_bytes=codec.VERSION_MAX_BYTES + 1)
        finally:
            await link.close()
    with pytest.raises(FrameError):
        codec.parse_version(raw)


FOREIGN_OPTIONS = {
    "gmc": {"timeout_s": 0.3, "auto_baud": False},
    "radpro": {"timeout_s": 0.3},
    "ascii": {"profile": "mightyohm", "timeout_s": 0.5},
    "scpi": {"timeout_s": 0.3},
    "radiacode": {"timeout_s": 0.5},
    "radeye": {"timeout_s": 0.5},
}


@pytest.mark.parametrize(
    ("driver_name", "mode"),
    [(d, m) for d in FOREIGN_OPTIONS for m in MODES if m.driver != d],
    ids=lambda v: v if isinstance(v, str) else v.id,
)
async def test_a_driver_on_another_familys_meter_fails_cleanly(driver_name: str, mode: Mode) -> None:
    """Every driver against every other family's modes: one MeterError, never a crash or a reading."""
    from radsurvey.protocols.errors import MeterError

    device = registry.emulator_factory(mode.driver)(**mode.settings)
    with PtyEmulator(device) as emu:
        where = {"resource": f"ASRL{emu.port}::INSTR"} if driver_name == "scpi" else {"port": emu.port}
        driver = registry.create(
            driver_name, meter_id="m", poll_interval_s=0.2, options={**where, **FOREIGN_OPTIONS[driver_name]}
        )
        with pytest.raises(MeterError):
            async with asyncio.timeout(20):
                async with driver:
                    await driver.read()
