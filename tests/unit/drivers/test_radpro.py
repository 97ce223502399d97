"""Rad Pro: the wire protocol as (sent, reply) pairs, its version drift, and fuzzed parsers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.errors import MeterTimeout
from radsurvey.drivers.radpro import codec
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice

ID = b"OK FS2011 (STM32F051C8);Rad Pro 3.1/en;b5706d937087f975b5812810\r\n"


def radpro(port: str, **options):
    return registry.create("radpro", meter_id="r", poll_interval_s=1.0, options={"port": port, **options})


def identify_script(sensitivity: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (b"GET deviceId\r\n", ID),
        *sensitivity,
        (b"GET tubeType\r\n", b"OK M4011\r\n"),
        (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
        (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
    ]


async def converse(pairs, reads: int, **options):
    device = ScriptedDevice(pairs)
    with PtyEmulator(device) as emu:
        driver = radpro(emu.port, **options)
        async with driver:
            readings = [await driver.read() for _ in range(reads)]
    device.assert_done()
    return driver.identity, readings


async def test_identify_then_rate_from_tube_rate_then_from_pulse_count_deltas() -> None:
    identity, readings = await converse(
        [
            *identify_script([(b"GET tubeSensitivity\r\n", b"OK 153.800\r\n")]),
            (b"GET tubePulseCount\r\n", b"OK 1000\r\n"),
            (b"GET tubeRate\r\n", b"OK 153.800\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 1010\r\n"),
        ],
        reads=2,
    )
    assert identity.model == "FS2011 (STM32F051C8)" and identity.firmware == "Rad Pro 3.1/en"
    assert identity.serial == "b5706d937087f975b5812810"
    first, second = readings
    assert first.value == pytest.approx(1.0) and first.unit == "uSv/h"
    assert first.quantity == Quantity.AMBIENT_DOSE_EQUIVALENT_RATE
    assert [c.name for c in first.conversions] == ["tube_rate", "cpm_to_uSv_h"]
    assert second.conversions[0].name == "pulse_count_delta" and "10 pulses" in second.conversions[0].detail
    assert second.raw == b"OK 1010\r\n"


async def test_old_firmware_sensitivity_name_is_used_after_error() -> None:
    identity, [reading] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeSensitivity\r\n", b"ERROR\r\n"),
            (b"GET tubeConversionFactor\r\n", b"OK 100.000\r\n"),
            (b"GET tubeType\r\n", b"ERROR\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"ERROR\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 200.000\r\n"),
        ],
        reads=1,
    )
    assert reading.value == pytest.approx(2.0)
    assert "tubeConversionFactor" in reading.conversions[-1].detail
    assert "tubeType" not in identity.extra


async def test_firmware_without_pulse_count_falls_back_to_tube_rate() -> None:
    _, readings = await converse(
        [
            *identify_script([]),
            (b"GET tubePulseCount\r\n", b"ERROR\r\n"),
            (b"GET tubeRate\r\n", b"OK 60.000\r\n"),
            (b"GET tubeRate\r\n", b"OK 61.000\r\n"),
        ],
        reads=2,
        sensitivity_cpm_per_uSv_h=None,
    )
    assert [(r.value, r.unit) for r in readings] == [(60.0, "cpm"), (61.0, "cpm")]


async def test_device_dead_time_is_applied_and_recorded() -> None:
    _, [reading] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeDeadTime\r\n", b"OK 0.0001000\r\n"),
            (b"GET tubeDeadTimeCompensation\r\n", b"OK 0.0000000\r\n"),
            (b"GET tubeType\r\n", b"OK M4011\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 60000.000\r\n"),
        ],
        reads=1,
        sensitivity_cpm_per_uSv_h=None,
        dead_time_s="device",
    )
    assert reading.value == pytest.approx(60000 / 0.9)
    assert reading.meter_value == 60000
    assert reading.conversions[-1].name == "dead_time"


async def test_silent_meter_names_data_mode() -> None:
    device = ScriptedDevice([(b"GET deviceId\r\n", b"")])
    with PtyEmulator(device) as emu:
        with pytest.raises(MeterTimeout, match="data mode"):
            async with radpro(emu.port, timeout_s=0.3):
                pass
    device.assert_done()


async def test_meter_compensated_tube_rate_is_not_corrected_twice() -> None:
    _, [reading] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeDeadTimeCompensation\r\n", b"OK 0.0001000\r\n"),
            (b"GET tubeType\r\n", b"OK M4011\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 60000.000\r\n"),
        ],
        reads=1,
        sensitivity_cpm_per_uSv_h="none",
        dead_time_s=0.0001,
    )
    assert reading.value == 60000.0
    assert "compensated by the meter" in reading.conversions[-1].detail


def test_pulse_counter_wraps_at_2_to_the_32() -> None:
    assert codec.pulses_between(2**32 - 3, 4) == 7
    assert codec.pulses_between(10, 10) == 0


@pytest.mark.parametrize(("line", "payload"), [(b"OK 1.421\r\n", "1.421"), (b"OK\r\n", ""), (b"OK a;b;c\n", "a;b;c")])
def test_replies(line: bytes, payload: str) -> None:
    assert codec.parse_reply(line) == payload


def test_error_reply_is_a_refusal() -> None:
    with pytest.raises(codec.CommandRefused):
        codec.parse_reply(b"ERROR\r\n")


def test_requests_are_read_only_gets_by_construction() -> None:
    assert codec.request("GET", "tubeRate") == b"GET tubeRate\r\n"
    with pytest.raises(ValueError):
        codec.request("GET", "tube Rate")


LINES = st.one_of(
    st.binary(max_size=80),
    st.sampled_from([ID, b"OK 1.421\r\n", b"OK 4294967295\r\n", b"ERROR\r\n"]).flatmap(
        lambda good: st.tuples(st.integers(0, len(good)), st.binary(max_size=6)).map(
            lambda cut: good[: cut[0]] + cut[1] + good[cut[0] :]
        )
    ),
)


@settings(max_examples=400, deadline=200)
@given(LINES)
def test_parsers_raise_only_frame_errors(line: bytes) -> None:
    try:
        payload = codec.parse_reply(line)
    except codec.CommandRefused:
        assert line.rstrip(b"\r\n") == b"ERROR"
        return
    except FrameError as err:
        assert type(err) is FrameError
        return
    for parse in (
        lambda: codec.parse_device_id(payload),
        lambda: codec.parse_decimal(payload, "x"),
        lambda: codec.parse_pulse_count(payload),
    ):
        try:
            parse()
        except FrameError as err:
            assert type(err) is FrameError  # CommandRefused only for a whole ERROR line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dead_time_s": -0.001}, "from 0 to 0.01"),
        ({"dead_time_s": float("nan")}, "from 0 to 0.01"),
        ({"sensitivity_cpm_per_uSv_h": 0}, "above 0"),
        ({"sensitivity_cpm_per_uSv_h": float("inf")}, "above 0"),
        ({"sensitivity_cpm_per_uSv_h": "devcie"}, "'device' or 'none'"),
    ],
)
def test_options_out_of_range_are_one_error_naming_what_is_allowed(options: dict, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as err:
        registry.get("radpro").options_model.model_validate({"port": "/dev/x", **options})
    [error] = err.value.errors()
    assert error["loc"] == (next(iter(options)),) and message in error["msg"]


@pytest.mark.parametrize("reported", [b"0.000", b"-153.800"])
async def test_device_sensitivity_not_above_zero_gives_cpm_and_says_so(reported: bytes) -> None:
    identity, [reading] = await converse(
        [
            *identify_script([(b"GET tubeSensitivity\r\n", b"OK " + reported + b"\r\n")]),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 60.000\r\n"),
        ],
        reads=1,
    )
    assert (reading.value, reading.unit, reading.quantity) == (60.0, "cpm", Quantity.COUNT_RATE)
    assert "tubeSensitivity " + reported.decode() in identity.extra["sensitivity_note"]


async def test_device_dead_time_below_zero_is_not_applied_and_says_so() -> None:
    identity, [reading] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeDeadTime\r\n", b"OK -0.0001000\r\n"),
            (b"GET tubeType\r\n", b"OK M4011\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 60000.000\r\n"),
        ],
        reads=1,
        sensitivity_cpm_per_uSv_h="none",
        dead_time_s="device",
    )
    assert reading.value == 60000.0 and "dead_time" not in [c.name for c in reading.conversions]
    assert "tubeDeadTime -0.0001000" in identity.extra["dead_time_note"]


async def test_probe_answers_after_another_familys_probe_left_bytes_without_a_line_end() -> None:
    from radsurvey.drivers.gmc.driver import probe as gmc_probe
    from radsurvey.drivers.radpro.driver import probe
    from radsurvey.drivers.radpro.emulator import RadProDevice

    device = RadProDevice()
    with PtyEmulator(device) as emu:
        for baud in (115200, 57600):  # what a GMC probe sends first: "<GETVER>>", no newline
            assert await gmc_probe(emu.port, baud, 0.2) is None
        identity = await probe(emu.port, 115200, 0.5)
    assert identity is not None and identity.model == "FS2011 (STM32F051C8)"
    assert device.requests[-1] == "GET deviceId"


async def test_pulse_counter_wrap_through_the_emulator_gives_a_steady_rate() -> None:
    import re

    from radsurvey.drivers.radpro.emulator import RadProDevice

    device = RadProDevice(cps=1000, start_count=2**32 - 400)  # wraps about 0.4 s in
    with PtyEmulator(device) as emu:
        async with radpro(emu.port, sensitivity_cpm_per_uSv_h="none") as driver:
            readings = [await driver.read()]
            for _ in range(8):
                await asyncio.sleep(0.1)
                readings.append(await driver.read())
    steps = []
    for r in readings[1:]:
        m = re.fullmatch(r"(\d+) pulses in [0-9.]+ s \(count (\d+) -> (\d+), wraps at 2\^32\)", r.conversions[0].detail)
        assert m, r.conversions[0].detail
        steps.append((int(m[1]), int(m[2]), int(m[3]), r.value))
    assert any(before > after for _, before, after, _ in steps), steps  # the counter did wrap
    for pulses, _, _, cpm in steps:  # ~100 pulses per step, across the wrap too (not ~2**32)
        assert 0 < pulses < 5_000 and 0 < cpm < 1_000_000, steps
