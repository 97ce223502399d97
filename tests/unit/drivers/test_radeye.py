"""Thermo RadEye: the record codec and the driver on a pty at 9600 7E2 against its emulator."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.drivers import registry
from radsurvey.drivers.emulator import PtyEmulator, TcpEmulator
from radsurvey.drivers.errors import MeterGone, MeterTimeout
from radsurvey.drivers.radeye import codec
from radsurvey.drivers.radeye.emulator import RadEyeDevice
from radsurvey.drivers.transport import SerialConnector, SerialLink
from radsurvey.protocols.errors import FrameError

# -- codec ----------------------------------------------------------------------------------


def test_a_record_gives_both_fields_with_units_flags_and_model() -> None:
    record = codec.parse_record(codec.build_record(12, 0, 500, 5, 0x26, "PRD-ER", 42))
    assert (record.first.value, record.first.unit) == (Fraction(12, 100), "uSv/h")
    assert (record.second.value, record.second.unit) == (Fraction(5), "cps")
    assert (record.flags, record.model, record.total_dose) == (0x26, "PRD-ER", 42)
    assert record.field() is record.first


def test_r_and_rem_values_are_whole_micro_units() -> None:
    assert codec.parse_record(codec.build_record(350, 2, 0, 0)).first.value == 350
    assert codec.parse_record(codec.build_record(35, 10, 0, 0)).first.unit == "urem/h"


def test_a_prd_er_record_is_read_at_its_dose_rate_field() -> None:
    record = codec.parse_record(codec.build_record(500, 5, 13, 0, model="PRD-ER"))
    assert record.field() is record.second


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"\x02 12 0 0 0 00 PRD 0 \x03\r\n"[1:], "not framed"),
        (b"\x02 12 0 0 0 00 PRD \x03\r\n", "6 fields"),
        (b"\x02 1Z 0 0 0 00 PRD 0 \x03\r\n", "value1 '1Z'"),
        (b"\x02 12 4 0 0 00 PRD 0 \x03\r\n", "unit code 4"),
        (b"\x02 12 0 0 0 1FF PRD 0 \x03\r\n", "not one byte"),
        (b"\x02 12 0 0 0 00 PRD 0 \x03\x02\x03\r\n", "second STX"),
        (bytes([0x02, 0xB1]) + b"2 0 0 0 00 PRD 0 \x03\r\n", "7 bits"),
    ],
)
def test_a_corrupted_record_is_rejected_with_its_reason(frame: bytes, why: str) -> None:
    with pytest.raises(FrameError, match=why):
        codec.parse_record(frame)


def test_activity_units_are_not_read_as_rates() -> None:
    with pytest.raises(FrameError, match="Bq/dps: not a dose or count rate"):
        codec.parse_record(codec.build_record(12, 6, 3, 9)).field()


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_fuzz_the_record_parser_raises_only_frame_errors(data: bytes) -> None:
    try:
        record = codec.parse_record(data)
    except FrameError:
        return
    assert record.first.code in codec.UNITS and record.second.code in codec.UNITS


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**7), st.sampled_from(sorted(codec.UNITS)), st.integers(0, 255))
def test_fuzz_build_then_parse_is_exact(count: int, code: int, flags: int) -> None:
    record = codec.parse_record(codec.build_record(count, code, count, code, flags))
    assert record.first.count == count and record.flags == flags
    assert record.first.value == count * codec.UNITS[code][1]


# -- driver ---------------------------------------------------------------------------------


async def _read(device: RadEyeDevice, n: int, **options):
    # The meter's byte stream over TCP (a ser2net-style bridge does the 7E2 line); the pty
    # test below checks the 7E2 line itself where the kernel lets a pty have it.
    with TcpEmulator(device) as emu:
        driver = registry.create("radeye", meter_id="re", poll_interval_s=1.0, options={"port": emu.port, **options})
        async with asyncio.timeout(30), driver:
            readings = []
            for _ in range(n):
                try:
                    readings.append(await driver.read())
                except FrameError as err:
                    readings.append(err)
    return readings, driver


def test_the_connector_is_9600_7e2() -> None:
    connector = registry.connector("radeye", {"port": "/dev/ttyUSB0"})
    assert isinstance(connector, SerialConnector)
    assert (connector.baudrate, connector.bytesize, connector.parity, connector.stopbits) == (9600, 7, "E", 2)


async def test_it_wakes_the_meter_starts_the_stream_and_reads_exactly_the_records() -> None:
    device = RadEyeDevice(period_s=0.2)
    readings, driver = await _read(device, 4)
    assert [r.value for r in readings] == [c / 100 for c, _ in device.served[:4]]
    assert [r.meter_value for r in readings] == [12.0, 13.0, 14.0, 15.0]
    assert all(r.unit == "uSv/h" and not r.status for r in readings)
    assert (driver.identity.model, driver.identity.serial, driver.identity.firmware) == ("RadEye PRD", "123456", "1.31")
    # read-only: stop any old stream, ask who, start the stream, stop it at close
    assert device.commands == ["X0", "#R", "Vx", "X1", "X0"]


async def test_the_display_switch_to_mSv_h_and_a_change_to_R_h_are_read_right() -> None:
    device = RadEyeDevice(period_s=0.2, unit_change=True)
    readings, _ = await _read(device, 6)
    assert [r.value for r in readings[:4]] == [0.12, 0.13, 1500.02, 1500.03]
    assert all(r.unit == "uSv/h" for r in readings[:4])
    # R/h records: integer uR/h, brought to uGy/h air kerma with the factor recorded
    assert readings[4].meter_value == 100_004 and readings[4].unit == "uGy/h"
    assert readings[4].value == pytest.approx(100_004 * 8.76e-3)


async def test_a_corrupted_record_is_one_garbled_reply_and_the_stream_goes_on() -> None:
    device = RadEyeDevice(period_s=0.2, corrupt_every=3)
    readings, _ = await _read(device, 4)
    assert isinstance(readings[2], FrameError) and "is not a number" in readings[2].message
    assert [r.meter_value for r in readings if not isinstance(r, FrameError)] == [12.0, 13.0, 15.0]


async def test_a_prd_er_is_read_at_its_dose_rate_and_flags_become_status() -> None:
    device = RadEyeDevice(period_s=0.2, prd_er=True, low_battery=True)
    readings, driver = await _read(device, 2)
    assert [r.value for r in readings] == [0.12, 0.13] and driver.identity.model == "RadEye PRD-ER"
    assert all(r.status == {"low_battery"} for r in readings)
    readings, _ = await _read(RadEyeDevice(period_s=0.2, prd_er=True), 1, value="value1")
    assert readings[0].unit == "cpm" and readings[0].value == 300.0  # 5.00 cps


async def test_on_a_pty_the_driver_asks_for_9600_7e2() -> None:
    """The meter is read through a pty the driver set to 9600 7E2 (a pty shows the speed and the
    2 stop bits; it keeps 8 data bits and no parity). Linux 6.18 answers a second 7E2 request on a
    pty with EINVAL, so this also proves the line is set once (drivers/transport.py)."""
    device = RadEyeDevice(period_s=0.2)
    with PtyEmulator(device) as emu:
        driver = registry.create("radeye", meter_id="re", poll_interval_s=1.0, options={"port": emu.port})
        async with asyncio.timeout(30), driver:
            readings = [await driver.read() for _ in range(3)]
    assert device.host_baudrate == 9600 and str(device.host_frame).endswith("2")
    assert [r.value for r in readings] == [0.12, 0.13, 0.14]


async def test_a_port_that_refuses_the_line_is_named_in_one_line(tmp_path: Path) -> None:
    # A path that takes no line settings at all (a file, not a tty): refused with one line naming it.
    not_a_tty = tmp_path / "ttyUSB0"
    not_a_tty.write_bytes(b"")
    link = SerialLink(port=str(not_a_tty), baudrate=9600, meter="re", bytesize=7, parity="E", stopbits=2)
    with pytest.raises(MeterGone) as refused:
        await link.open()
    message = str(refused.value)
    assert f"{not_a_tty} refuses the line settings 9600 7E2: Inappropriate ioctl" in message and "\n" not in message


async def test_at_8n1_the_meter_does_not_answer_and_the_driver_says_what_to_check() -> None:
    device = RadEyeDevice(period_s=0.2)
    with PtyEmulator(device) as emu:
        connector = SerialConnector(port=emu.port, usb=None, baudrate=9600)  # 8N1: wrong
        options = registry.get("radeye").options_model.model_validate({"port": emu.port, "timeout_s": 0.5})
        driver = registry.get("radeye").factory(meter_id="re", options=options, connector=connector)
        with pytest.raises(MeterTimeout, match="wake-ups: is the meter on"):
            async with asyncio.timeout(20), driver:
                pass
