"""Rad Pro: the wire protocol as (sent, reply) pairs, its version drift, and fuzzed parsers."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity, Status
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.errors import MeterTimeout
from radsurvey.drivers.radpro import codec
from radsurvey.drivers.radpro.emulator import RadProDevice
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice

ID = b"OK FS2011 (STM32F051C8);Rad Pro 3.1/en;b5706d937087f975b5812810\r\n"


def radpro(port: str, **options):
    return registry.create("radpro", meter_id="r", poll_interval_s=1.0, options={"port": port, **options})


def identify_script(sensitivity: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [
        (b"GET deviceId\r\n", ID),
        *sensitivity,
        (b"GET tubeDeadTimeCompensation\r\n", b"OK 0.0000000\r\n"),
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
            (b"GET tubeDeadTimeCompensation\r\n", b"ERROR\r\n"),
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


async def test_device_dead_time_is_the_meters_compensation_setting_not_the_upper_bound() -> None:
    identity, [first, second] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeDeadTimeCompensation\r\n", b"OK 0.0001000\r\n"),
            (b"GET tubeDeadTime\r\n", b"OK 0.0002420\r\n"),  # an upper bound (docs/comm.md): not used
            (b"GET tubeType\r\n", b"OK M4011\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 60000.000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 6\r\n"),
        ],
        reads=2,
        sensitivity_cpm_per_uSv_h=None,
        dead_time_s="device",
    )
    assert identity.extra["dead_time_basis"] == "corrected, tau = 0.0001 s (meter's tubeDeadTimeCompensation)"
    assert identity.extra["tubeDeadTime_upper_bound_s"] == "0.0002420"
    # tubeRate is already compensated by the meter: taken as is, on the same basis
    assert first.value == 60000.0 and "same basis" in first.conversions[-1].detail
    # raw pulse counts are corrected with the same tau: n = m / (1 - m*tau)
    from radsurvey.drivers.units import dead_time_correct

    assert second.conversions[-1].name == "dead_time"
    assert "tau=0.0001 s (meter's tubeDeadTimeCompensation)" in second.conversions[-1].detail
    assert second.value == pytest.approx(dead_time_correct(second.meter_value, 0.0001)[0])


async def test_device_dead_time_with_compensation_off_corrects_nothing_and_says_so() -> None:
    identity, [reading] = await converse(
        [
            (b"GET deviceId\r\n", ID),
            (b"GET tubeDeadTimeCompensation\r\n", b"OK 0.0000000\r\n"),
            (b"GET tubeDeadTime\r\n", b"OK 0.0002420\r\n"),
            (b"GET tubeType\r\n", b"OK M4011\r\n"),
            (b"GET deviceBatteryVoltage\r\n", b"OK 1.421\r\n"),
            (b"GET deviceTime\r\n", b"OK 1763800000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 5\r\n"),
            (b"GET tubeRate\r\n", b"OK 600.000\r\n"),
        ],
        reads=1,
        sensitivity_cpm_per_uSv_h=None,
        dead_time_s="device",
    )
    assert identity.extra["dead_time_basis"] == "uncorrected counts"
    assert "compensation is off" in identity.extra["dead_time_note"]
    assert reading.value == 600.0


async def test_no_dead_time_option_puts_a_compensating_meters_tube_rate_back_on_raw_counts() -> None:
    identity, [reading] = await converse(
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
        sensitivity_cpm_per_uSv_h=None,
    )
    assert identity.extra["dead_time_basis"] == "uncorrected counts"
    # n = 1000 /s, tau = 1e-4 s: m = n / (1 + n*tau) = 1000 / 1.1 per second
    assert reading.value == pytest.approx(60000 / 1.1)
    assert reading.conversions[-1].name == "dead_time_undone"


async def test_a_pulse_counter_set_back_is_a_restart_not_four_billion_pulses() -> None:
    _, readings = await converse(
        [
            *identify_script([]),
            (b"GET tubePulseCount\r\n", b"OK 123456\r\n"),
            (b"GET tubeRate\r\n", b"OK 120.000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 123458\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 100\r\n"),  # reset on the meter
            (b"GET tubeRate\r\n", b"OK 121.000\r\n"),
            (b"GET tubePulseCount\r\n", b"OK 102\r\n"),
        ],
        reads=4,
        sensitivity_cpm_per_uSv_h=None,
    )
    assert readings[2].value == 121.0
    assert readings[2].conversions[0].name == "counter_restart"
    assert "went back from 123458 to 100" in readings[2].conversions[0].detail
    assert readings[3].conversions[0].name == "pulse_count_delta" and "2 pulses" in readings[3].conversions[0].detail


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
    assert codec.pulses_between(2**32 - 3, 4, 1.0) == 7
    assert codec.pulses_between(10, 10, 1.0) == 0


def test_a_counter_that_goes_back_further_than_a_wrap_explains_is_a_restart() -> None:
    assert codec.pulses_between(123456, 100, 1.0) is None
    assert codec.pulses_between(2**32 - 10, 5, 0.0) is None  # no time passed: no pulses either


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.floats(0, 1e6, allow_nan=False),
)
def test_pulses_between_is_a_plausible_count_or_a_restart(previous: int, current: int, elapsed_s: float) -> None:
    pulses = codec.pulses_between(previous, current, elapsed_s)
    if current >= previous:
        assert pulses == current - previous
    elif pulses is not None:
        assert (previous + pulses) % 2**32 == current
        assert pulses <= codec.MAX_PLAUSIBLE_CPS * elapsed_s


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
            (b"GET tubeDeadTimeCompensation\r\n", b"OK -0.0001000\r\n"),
            (b"GET tubeDeadTime\r\n", b"OK 0.0002420\r\n"),
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
    assert "tubeDeadTimeCompensation -0.0001000, not a dead time" in identity.extra["dead_time_note"]


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


async def test_a_nul_and_a_datalog_tail_before_the_first_reply_are_drained_and_asked_again() -> None:
    device = RadProDevice(leftovers=True)
    with PtyEmulator(device) as emu:
        async with asyncio.timeout(20), radpro(emu.port) as driver:
            reading = await driver.read()
    assert device.requests[:2] == ["GET deviceId", "GET deviceId"]
    assert driver.identity.serial == "b5706d937087f975b5812810" and reading.unit in ("cpm", "uSv/h")


async def test_above_rad_pros_x10_compensation_cap_the_reading_is_over_range() -> None:
    # 1000 pulses/s, tau 1e-3 s: m*tau = 1 > 0.9, the meter's denominator is floored at 0.1 (x10)
    device = RadProDevice(cps=1000, dead_time_compensation_s=0.001)
    with PtyEmulator(device) as emu:
        async with asyncio.timeout(20), radpro(emu.port, rate_source="tube_rate") as driver:
            reading = await driver.read()
    assert Status.OVER_RANGE in reading.status
    assert reading.meter_value == pytest.approx(60_000.0)  # the counted rate, tubeRate / 10
    assert "dead_time_cap" in [c.name for c in reading.conversions]


async def test_below_the_cap_the_meters_compensation_is_undone_exactly() -> None:
    device = RadProDevice(cps=500, dead_time_compensation_s=0.0001)
    with PtyEmulator(device) as emu:
        async with asyncio.timeout(20), radpro(emu.port, rate_source="tube_rate") as driver:
            reading = await driver.read()
    assert not reading.status and reading.meter_value == pytest.approx(30_000.0, rel=1e-6)
