"""SCPI over VISA: pyvisa-sim instruments (YAML in tests/fixtures/visa), the pty emulator, fuzzed parsers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity, Status
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.errors import MeterGone, MeterTimeout
from radsurvey.drivers.scpi import codec
from radsurvey.drivers.scpi.emulator import ScpiDevice
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice

SIM = f"{Path(__file__).resolve().parents[2] / 'fixtures' / 'visa' / 'instruments.yaml'}@sim"


def scpi(**options):
    if options.get("visa_library") == SIM:
        # pyvisa-sim answers '' for a resource it does not define: a test would pass for nothing
        assert options["resource"] in SIM_RESOURCES, f"{options['resource']} is not in instruments.yaml"
    return registry.create("scpi", meter_id="em", poll_interval_s=1.0, options=options)


def _sim_resources() -> set[str]:
    import yaml

    return set(yaml.safe_load(Path(SIM.removesuffix("@sim")).read_text())["resources"])


SIM_RESOURCES = _sim_resources()


async def test_electrometer_current_times_chamber_factor_is_air_kerma_rate() -> None:
    driver = scpi(resource="ASRL1::INSTR", visa_library=SIM, unit="A", scale=-4.0e12, scaled_unit="uGy/h")
    async with driver:
        reading = await driver.read()
    assert driver.identity.model == "KEITHLEY INSTRUMENTS INC. MODEL 6517B"
    assert driver.identity.serial == "4123456"
    assert reading.value == pytest.approx(5.0) and reading.unit == "uGy/h"
    assert reading.quantity == Quantity.AIR_KERMA_RATE
    assert reading.meter_value == pytest.approx(-1.25e-12)
    assert [c.name for c in reading.conversions] == ["calibration"]
    assert reading.raw == b"-1.250000E-12,+1234.5,+0"


async def test_bare_current_is_a_current_reading() -> None:
    async with scpi(resource="TCPIP::192.168.0.50::INSTR", visa_library=SIM) as driver:
        reading = await driver.read()
    assert reading.quantity == Quantity.CURRENT and reading.unit == "A"


async def test_survey_meter_with_pattern_and_legacy_unit() -> None:
    driver = scpi(
        resource="USB0::0x1234::0x5678::SN77::INSTR",
        visa_library=SIM,
        measure_query="MEAS:DOSE:RATE?",
        response_pattern=r"^DOSE (?P<value>[0-9.]+) mR/h$",
        unit="mR/h",
    )
    async with driver:
        reading = await driver.read()
    assert reading.value == pytest.approx(0.085 * 8.76) and reading.unit == "uGy/h"
    assert "8.76" in reading.conversions[-1].detail


async def test_garbled_identity_and_reply_are_frame_errors() -> None:
    with pytest.raises(FrameError, match="IDN"):
        async with scpi(resource="ASRL2::INSTR", visa_library=SIM):
            pass
    async with scpi(resource="ASRL2::INSTR", visa_library=SIM, identify_query=None) as driver:
        with pytest.raises(FrameError, match="does not match"):
            await driver.read()


async def test_missing_serial_instrument_is_meter_gone(tmp_path: Path) -> None:
    with pytest.raises(MeterGone):
        async with scpi(resource=f"ASRL{tmp_path / 'gone'}::INSTR"):
            pass


async def test_reply_without_termination_is_a_frame_error() -> None:
    resource = "TCPIP::192.168.0.99::INSTR"  # replies "+1.000000E-09\r"; the driver reads up to "\n"
    async with scpi(resource=resource, visa_library=SIM, identify_query=None, timeout_s=0.3) as driver:
        with pytest.raises(FrameError, match="READ\\?: read string doesn't end with termination characters"):
            await driver.read()


async def test_pty_instrument_as_sent_reply_pairs() -> None:
    device = ScriptedDevice(
        [(b"*IDN?\n", b"ACME,EM1,42,1.0\n"), (b"READ?\n", b"+1.0E-9\n"), (b"READ?\n", b"+9.9E37\n")]
    )
    with PtyEmulator(device) as emu:
        driver = scpi(resource=f"ASRL{emu.port}::INSTR", unit="nA", timeout_s=0.5)
        async with driver:
            normal = await driver.read()
            overload = await driver.read()
    device.assert_done()
    assert normal.value == pytest.approx(1e-18) and normal.conversions[0].detail == "nA -> A"
    assert overload.status == {Status.OVER_RANGE}


async def test_silent_instrument_times_out_and_unplug_is_gone() -> None:
    device = ScpiDevice(measure_query="MEAS?")
    with PtyEmulator(device) as emu:
        async with scpi(resource=f"ASRL{emu.port}::INSTR", measure_query="READ?", timeout_s=0.3) as driver:
            with pytest.raises(MeterTimeout):
                await driver.read()
            emu.unplug()
            with pytest.raises(MeterGone):
                await driver.read()


def test_scale_needs_the_unit_it_produces() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="scaled_unit"):
        registry.get("scpi").options_model.model_validate({"resource": "ASRL1::INSTR", "scale": 2.0})


REPLIES = st.one_of(
    st.text(max_size=60),
    st.sampled_from(["+1.0E-9", "-1.25E-12,+1.0,+0", "KEITHLEY,6517B,1,A"]).flatmap(
        lambda good: st.tuples(st.integers(0, len(good)), st.text(max_size=4)).map(
            lambda cut: good[: cut[0]] + cut[1] + good[cut[0] :]
        )
    ),
)


@settings(max_examples=400, deadline=200)
@given(REPLIES)
def test_parsers_raise_only_frame_errors(reply: str) -> None:
    for parse in (
        lambda: codec.parse_idn(reply),
        lambda: codec.parse_measurement(reply, codec.compile_pattern(codec.DEFAULT_PATTERN)),
    ):
        try:
            parse()
        except FrameError:
            pass


def _readme_meter(meter_id: str) -> dict:
    import re
    import tomllib
    from pathlib import Path

    from radsurvey.drivers import scpi

    text = (Path(scpi.__file__).parent / "README.md").read_text()
    block = re.search(r"## Sample config\s+```toml\n(.*?)```", text, re.S).group(1)
    [meter] = [m for m in tomllib.loads(block)["meters"] if m["id"] == meter_id]
    return {k: v for k, v in meter.items() if k not in ("id", "driver", "poll_interval_s")}


@pytest.mark.parametrize(
    "reply",
    ["+1.234567E-12NADC,+0000123.45secs,+00012RDNG#", "+1.234567E-12NADC", "-1.234567E-12NADC#"],
)
def test_keithley_replies_parse_with_the_shipped_default_pattern(reply: str) -> None:
    value, sentinel = codec.parse_measurement(reply, codec.compile_pattern(codec.DEFAULT_PATTERN))
    assert abs(value) == 1.234567e-12 and sentinel is None


def test_the_documented_keithley_profile_reads_the_status_letter() -> None:
    from radsurvey.drivers.scpi.driver import ScpiOptions

    options = ScpiOptions.model_validate(_readme_meter("keithley"))
    pattern = codec.compile_pattern(options.response_pattern)
    value, _, fields = codec.parse_measurement_fields("+2.000000E-12OADC,+0000001.00secs,+00002RDNG#", pattern)
    assert value == 2.0e-12 and options.status_map[fields["status"]] == "over_range" and fields["unit"] == "ADC"
    _, _, fields = codec.parse_measurement_fields("+2.000000E-12NADC,+0000001.00secs,+00002RDNG#", pattern)
    assert fields["status"] not in options.status_map


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_measurement_fields_raise_only_frame_errors(reply: str) -> None:
    for pattern in (codec.DEFAULT_PATTERN, codec.KEITHLEY_PATTERN):
        try:
            value, _, fields = codec.parse_measurement_fields(reply, codec.compile_pattern(pattern))
        except FrameError:
            continue
        assert math.isfinite(value) and "value" in fields
