"""Modbus: register decoding, RTU frames as (sent, reply) pairs, the pymodbus-server emulator."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity, Status
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.errors import MeterGone, MeterTimeout
from radsurvey.drivers.modbus import codec
from radsurvey.drivers.modbus.emulator import ModbusEmulator
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice


def crc16(frame: bytes) -> bytes:
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


def rtu(*parts: int) -> bytes:
    body = bytes(parts)
    return body + crc16(body)


def modbus(**options):
    return registry.create("modbus", meter_id="mb", poll_interval_s=1.0, options=options)


@pytest.mark.parametrize(
    ("registers", "data_type", "word_order", "byte_order", "value"),
    [
        ([0x002A], "u16", "big", "big", 42),
        ([0xFFFE], "i16", "big", "big", -2),
        ([0x0001, 0x86A0], "u32", "big", "big", 100_000),
        ([0x86A0, 0x0001], "u32", "little", "big", 100_000),
        ([0xFFFF, 0xFFFF], "i32", "big", "big", -1),
        ([0x3FA0, 0x0000], "f32", "big", "big", 1.25),
        ([0x0000, 0x3FA0], "f32", "little", "big", 1.25),
        ([0xA03F, 0x0000], "f32", "big", "little", 1.25),
    ],
)
def test_decode_data_types_and_orders(registers, data_type, word_order, byte_order, value) -> None:
    assert codec.decode(registers, data_type, word_order=word_order, byte_order=byte_order) == value
    assert codec.encode(value, data_type, word_order=word_order, byte_order=byte_order) == registers


def test_nan_float_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        codec.decode([0x7FC0, 0x0000], "f32")


def test_status_bits() -> None:
    assert codec.status_flags(0b101, {0: "over_range", 1: "fault", 2: "low_battery"}) == {
        Status.OVER_RANGE,
        Status.LOW_BATTERY,
    }


@settings(max_examples=400, deadline=200)
@given(
    st.lists(st.integers(-5, 0x1_0005), max_size=4),
    st.sampled_from(["u16", "i16", "u32", "i32", "f32"]),
    st.sampled_from(["big", "little"]),
    st.sampled_from(["big", "little"]),
)
def test_decode_raises_only_frame_errors(registers, data_type, word_order, byte_order) -> None:
    try:
        codec.decode(registers, data_type, word_order=word_order, byte_order=byte_order)
    except FrameError:
        pass


@settings(max_examples=200, deadline=200)
@given(st.integers(-5, 0x1_0005))
def test_status_word_raises_only_frame_errors(word: int) -> None:
    try:
        codec.status_flags(word, {0: "fault"})
    except FrameError:
        pass


async def test_rtu_frames_on_the_wire() -> None:
    value = struct.pack(">f", 0.5)
    device = ScriptedDevice(
        [
            (rtu(0x05, 0x04, 0x00, 0x64, 0x00, 0x02), rtu(0x05, 0x04, 0x04, *value)),  # identify
            (rtu(0x05, 0x04, 0x00, 0x64, 0x00, 0x02), rtu(0x05, 0x04, 0x04, *value)),
            (rtu(0x05, 0x03, 0x00, 0x6E, 0x00, 0x01), rtu(0x05, 0x03, 0x02, 0x00, 0x02)),
            (rtu(0x05, 0x04, 0x00, 0x64, 0x00, 0x02), rtu(0x05, 0x84, 0x02)),  # exception: illegal address
        ]
    )
    with PtyEmulator(device) as emu:
        driver = modbus(
            port=emu.port,
            unit_id=5,
            register_type="input",
            address=100,
            data_type="f32",
            unit="mR/h",
            status_address=110,
            status_bits={1: "fault"},
            timeout_s=0.5,
        )
        async with driver:
            reading = await driver.read()
            with pytest.raises(FrameError, match="E02: illegal data address"):
                await driver.read()
    device.assert_done()
    assert reading.value == pytest.approx(0.5 * 8.76) and reading.unit == "uGy/h"
    assert reading.quantity == Quantity.AIR_KERMA_RATE
    assert reading.status == {Status.FAULT}
    assert reading.conversions[0].name == "unit" and "8.76" in reading.conversions[0].detail
    assert reading.raw.startswith(rtu(0x05, 0x04, 0x04, *value))


async def test_tcp_against_the_pymodbus_server_with_scale_and_status() -> None:
    with ModbusEmulator(data_type="u16", value=1200, step=10, status_word=0b1) as emu:
        driver = modbus(
            host="127.0.0.1",
            tcp_port=emu.tcp_port,
            address=100,
            data_type="u16",
            scale=0.001,
            unit="uSv/h",
            status_address=110,
            status_bits={0: "over_range"},
        )
        async with driver:
            readings = [await driver.read() for _ in range(2)]
    assert [r.value for r in readings] == [pytest.approx(1.21), pytest.approx(1.22)]
    assert [r.meter_value for r in readings] == [1210, 1220]
    assert readings[0].conversions[0].name == "register_scale"
    assert readings[0].status == {Status.OVER_RANGE}


async def test_exception_reply_and_silence_from_the_server() -> None:
    with ModbusEmulator() as emu:
        async with modbus(host="127.0.0.1", tcp_port=emu.tcp_port, address=100, data_type="f32", timeout_s=0.3) as d:
            emu.fault = "garbage"
            with pytest.raises(FrameError, match="E04"):
                await d.read()
            emu.fault = "silence"
            with pytest.raises(MeterTimeout):
                await d.read()
            emu.fault = None


async def test_nothing_listening_is_meter_gone() -> None:
    with ModbusEmulator() as emu:
        port = emu.tcp_port
    with pytest.raises(MeterGone):
        async with modbus(host="127.0.0.1", tcp_port=port, address=100, timeout_s=0.3):
            pass


def test_options_need_one_transport() -> None:
    from pydantic import ValidationError

    model = registry.get("modbus").options_model
    with pytest.raises(ValidationError, match="exactly one"):
        model.model_validate({"address": 1})
    with pytest.raises(ValidationError):
        model.model_validate({"host": "h", "port": "/dev/x", "address": 1})
    with pytest.raises(ValidationError, match="status_bits"):
        model.model_validate({"host": "h", "address": 1, "status_bits": {"0": "fault"}})
    assert model.model_validate({"host": "h", "address": 1, "status_address": 2, "status_bits": {"3": "fault"}})


# -- Atomtex BDKG preset and its opt-in start sequence -------------------------------------------

BDKG_START_ON_THE_WIRE = [
    (rtu(0x01, 0x07), rtu(0x01, 0x07, 0x00)),  # FC07 read exception status: the unit is awake
    (rtu(0x01, 0x06, 0x00, 0x00, 0xFF, 0xFF), rtu(0x01, 0x06, 0x00, 0x00, 0xFF, 0xFF)),  # mode
    (rtu(0x01, 0x05, 0x00, 0x23, 0xFF, 0x00), rtu(0x01, 0x05, 0x00, 0x23, 0xFF, 0x00)),  # start
    (rtu(0x01, 0x05, 0x00, 0x22, 0xFF, 0x00), rtu(0x01, 0x05, 0x00, 0x22, 0xFF, 0x00)),  # latch
]


def _dose_read(sv_h: float) -> tuple[bytes, bytes]:
    return rtu(0x01, 0x04, 0x00, 0x08, 0x00, 0x02), rtu(0x01, 0x04, 0x04, *struct.pack(">f", sv_h))


async def test_bdkg_init_sends_exactly_the_start_sequence_then_reads_fc04() -> None:
    device = ScriptedDevice([*BDKG_START_ON_THE_WIRE, _dose_read(2**-23), _dose_read(2**-22)])
    with PtyEmulator(device) as emu:
        async with modbus(port=emu.port, preset="bdkg", init="bdkg", timeout_s=0.5) as driver:
            reading = await driver.read()
    device.assert_done()
    assert reading.unit == "uSv/h" and reading.value == 2**-22 * 1e6 and reading.meter_value == 2**-22
    assert driver.identity.model.startswith("Atomtex BDKG detection unit")


async def test_the_bdkg_preset_alone_writes_nothing() -> None:
    device = ScriptedDevice([_dose_read(2**-23), _dose_read(2**-23)])
    with PtyEmulator(device) as emu:
        async with modbus(port=emu.port, preset="bdkg", timeout_s=0.5) as driver:
            await driver.read()
    device.assert_done()  # no FC05/06/07 among the frames sent


def test_the_preset_fills_the_register_map_and_the_config_wins() -> None:
    options = modbus(port="/dev/null", preset="bdkg").options
    assert (options.register_type, options.address, options.data_type, options.unit) == ("input", 8, "f32", "Sv/h")
    assert (options.baudrate, options.unit_id, options.init) == (19200, 1, None)
    assert modbus(port="/dev/null", preset="bdkg", unit_id=3).options.unit_id == 3
    with pytest.raises(ValidationError, match="give address"):
        modbus(port="/dev/null")


async def test_bdkg_over_modbus_tcp_reads_exactly_what_the_emulator_serves() -> None:
    with ModbusEmulator(bdkg=True, step=2.0**-27) as emu:
        async with modbus(host="127.0.0.1", tcp_port=emu.tcp_port, **emu.driver_options()) as driver:
            readings = [await driver.read() for _ in range(3)]
        served = list(emu.served)
    assert [r.meter_value for r in readings] == served[1:4]  # served[0] answered identify
    assert [r.value for r in readings] == [v * 1e6 for v in served[1:4]]
    assert emu.started


async def test_a_bdkg_without_its_start_sequence_says_what_to_set() -> None:
    with ModbusEmulator(bdkg=True) as emu:
        with pytest.raises(FrameError, match='only after its start sequence: init = "bdkg"'):
            async with modbus(host="127.0.0.1", tcp_port=emu.tcp_port, preset="bdkg", timeout_s=0.5):
                pass
        assert emu.writes == []


def test_a_bool_is_not_a_register_value() -> None:
    with pytest.raises(FrameError, match="not 16 bits"):
        codec.decode([True], "u16")
    with pytest.raises(FrameError, match="not 16 bits"):
        codec.status_flags(True, {0: "fault"})
