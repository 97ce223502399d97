"""RadiaCode: the codec (frames, version, data buffer) and the driver against its emulator over TCP."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from radsurvey.drivers import registry
from radsurvey.drivers.emulator import PtyEmulator, TcpEmulator
from radsurvey.drivers.radiacode import codec
from radsurvey.drivers.radiacode.emulator import RadiaCodeDevice
from radsurvey.protocols.errors import FrameError, MeterError

# -- codec ----------------------------------------------------------------------------------


def test_a_request_is_a_length_a_header_and_its_arguments() -> None:
    frame = codec.request(codec.RD_VIRT_STRING, 3, (0x100).to_bytes(4, "little"))
    assert frame == bytes.fromhex("080000002608008300010000")
    assert codec.split_request(frame[4:]) == (codec.RD_VIRT_STRING, 3, b"\x00\x01\x00\x00")


def test_a_reply_to_another_request_is_garbage() -> None:
    body = codec.HEADER.pack(codec.GET_VERSION, 0, 0x84) + b"x"
    assert codec.reply_payload(body, codec.GET_VERSION, 4) == b"x"
    with pytest.raises(FrameError, match="does not answer"):
        codec.reply_payload(body, codec.GET_VERSION, 5)


def test_a_virtual_string_may_carry_one_trailing_nul() -> None:
    assert codec.virt_string(codec.virt_string_reply(b"RC-102", trailing_nul=True)) == b"RC-102"
    assert codec.virt_string(codec.virt_string_reply(b"RC-102")) == b"RC-102"
    with pytest.raises(FrameError, match="announces 6 bytes, carries 8"):
        codec.virt_string(codec.virt_string_reply(b"RC-102") + b"\x00\x00")
    with pytest.raises(FrameError, match="refused"):
        codec.virt_string(struct.pack("<II", 0, 0))


def test_version_round_trip() -> None:
    v = codec.Version((4, 0), "Jan 10 2023", (4, 12), "Mar 21 2024")
    assert codec.parse_version(codec.build_version(v)) == v
    assert v.firmware == "4.12"


def test_the_data_buffer_yields_real_time_records_and_skips_known_kinds() -> None:
    data = (
        codec.real_time_record(10, 5, 7.5, 2**-20)
        + codec.record(11, 0, 3, struct.pack("<IfHHH", 1, 0.0, 0, 0, 0))
        + codec.record(12, 1, 2, struct.pack("<HI", 1, 10) + bytes(16))
        + codec.record(13, 0, 7, bytes([11, 0, 0, 0]))
        + codec.real_time_record(14, 6, 8.0, 2**-19, flags=0x40)
    )
    buf = codec.decode_data_buf(data, expected_seq=10)
    assert [(r.seq, r.count_rate_cps, r.dose_rate, r.flags) for r in buf.real_time] == [
        (10, 7.5, 2**-20, 0),
        (14, 8.0, 2**-19, 0x40),
    ]
    assert buf.other_records == 2 and [e.event for e in buf.events] == [11]
    assert not buf.gaps and not buf.unknown and not buf.truncated and buf.last_seq == 14


def test_a_sequence_jump_is_a_gap_and_an_unknown_kind_ends_the_buffer() -> None:
    data = (
        codec.real_time_record(255, 0, 1.0, 1e-5)
        + codec.real_time_record(4, 0, 1.0, 1e-5)
        + codec.record(5, 3, 9, b"\x00" * 12)
        + codec.real_time_record(6, 0, 1.0, 1e-5)
    )
    buf = codec.decode_data_buf(data, expected_seq=254)
    assert buf.gaps == [(254, 255), (0, 4)]
    assert buf.unknown == [(3, 9)] and len(buf.real_time) == 2


def test_a_buffer_cut_inside_a_record_keeps_the_whole_records_before() -> None:
    whole = codec.real_time_record(1, 0, 1.0, 1e-5)
    buf = codec.decode_data_buf(whole + whole[:9])
    assert len(buf.real_time) == 1 and buf.truncated


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300), st.one_of(st.none(), st.integers(0, 255)))
def test_fuzz_the_data_buffer_decoder_never_raises(data: bytes, expected: int | None) -> None:
    buf = codec.decode_data_buf(data, expected)
    assert len(buf.real_time) * 22 <= len(data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_reply_parsers_raise_only_frame_errors(data: bytes) -> None:
    for parse in (
        codec.virt_string,
        codec.parse_version,
        lambda d: codec.frame_length(d[:4]),
        lambda d: codec.reply_payload(d, codec.GET_VERSION, 1),
        codec.split_request,
    ):
        try:
            parse(data)
        except FrameError:
            pass


# -- driver against the emulator -------------------------------------------------------------


async def _read(device: RadiaCodeDevice, n: int, *, tcp: bool = True, **options) -> tuple[list, dict]:
    server = TcpEmulator(device) if tcp else PtyEmulator(device)
    with server as emu:
        driver = registry.create(
            "radiacode", meter_id="rc", poll_interval_s=0.1, options={"port": emu.port, "timeout_s": 2, **options}
        )
        async with asyncio.timeout(30), driver:
            readings = [await driver.read() for _ in range(n)]
    return readings, {"identity": driver.identity, "driver": driver}


async def test_over_tcp_it_reads_exactly_the_dose_rates_the_meter_serves() -> None:
    device = RadiaCodeDevice()
    readings, got = await _read(device, 4)
    assert [r.meter_value for r in readings] == device.served[:4]
    assert [r.value for r in readings] == [d * 10_000 for d in device.served[:4]]
    assert all(r.unit == "uSv/h" and r.quantity == "ambient_dose_equivalent_rate" for r in readings)
    assert readings[0].conversions[0].name == "radiacode_dose_rate" and readings[0].conversions[0].factor == 10_000
    identity = got["identity"]
    assert (identity.model, identity.firmware, identity.serial) == ("RadiaCode-102", "4.12", "RC-102-004711")


async def test_the_driver_sends_nothing_that_changes_the_meter() -> None:
    device = RadiaCodeDevice()
    await _read(device, 3)
    commands = {c for c, _ in device.requests}
    assert commands <= codec.READ_ONLY_COMMANDS, commands
    strings = {int.from_bytes(a, "little") for c, a in device.requests if c == codec.RD_VIRT_STRING}
    assert strings == {codec.VS_SERIAL_NUMBER, codec.VS_DATA_BUF}
    assert device.requests[0] == (codec.SET_EXCHANGE, codec.SET_EXCHANGE_ARGS)


async def test_the_count_rate_channel_is_in_cpm() -> None:
    device = RadiaCodeDevice(cps=5.0)
    readings, _ = await _read(device, 2, channel="count_rate")
    assert [r.value for r in readings] == [300.0, 315.0] and readings[0].meter_value == 5.0


async def test_frames_split_in_two_are_joined() -> None:
    device = RadiaCodeDevice(split_frames=True)
    readings, _ = await _read(device, 3)
    assert [r.meter_value for r in readings] == device.served[:3]


async def test_a_sequence_jump_is_logged_as_a_gap_and_reading_goes_on() -> None:
    device = RadiaCodeDevice(seq_jump=True)
    with capture_logs() as logs:
        readings, got = await _read(device, 3)
    assert [r.meter_value for r in readings] == device.served[:3]
    gaps = [e for e in logs if e["event"] == "radiacode record gap"]
    assert len(gaps) == 1 and gaps[0]["seq"] - gaps[0]["expected_seq"] == 5
    assert got["driver"].gaps == 1


async def test_an_unknown_record_kind_is_skipped_counted_and_the_stream_goes_on() -> None:
    device = RadiaCodeDevice(unknown_record=True)
    readings, got = await _read(device, 4)
    assert [r.meter_value for r in readings] == device.served[:4]
    assert got["driver"].unknown_records == 1


async def test_old_firmware_is_refused_with_one_line() -> None:
    with pytest.raises(MeterError) as err:
        await _read(RadiaCodeDevice(old_firmware=True), 1)
    assert str(err.value).count("\n") == 0
    assert "RadiaCode firmware 4.7 is older than 4.8" in str(err.value)


async def test_a_meter_with_another_serial_is_refused() -> None:
    with pytest.raises(MeterError, match="serial 'RC-102-004711', not the configured 'RC-103-000001'"):
        await _read(RadiaCodeDevice(), 1, serial="RC-103-000001")


async def test_the_same_byte_stream_works_on_a_pty() -> None:
    device = RadiaCodeDevice()
    readings, _ = await _read(device, 2, tcp=False)
    assert [r.meter_value for r in readings] == device.served[:2]


def test_exactly_one_transport_is_given() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="exactly one of usb"):
        registry.create("radiacode", meter_id="rc", poll_interval_s=1, options={"usb": "0483:f123", "port": "/x"})
    assert registry.connector("radiacode", {"usb": "0483:f123:RC-102-1"}).where == "usb 0483:f123:RC-102-1"
    assert registry.connector("radiacode", {"bluetooth": "52:43:01:02:03:04"}).where == "ble 52:43:01:02:03:04"
