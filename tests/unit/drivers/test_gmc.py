"""GQ GMC: the wire protocol as (sent, reply) pairs, and its parsers fuzzed."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.errors import MeterTimeout
from radsurvey.drivers.gmc import codec
from radsurvey.drivers.gmc.emulator import GmcDevice
from radsurvey.protocols.errors import FrameError
from tests.scripted import ScriptedDevice

V5 = b"GMC-320+V5\x00RRe 5.73"
SERIAL = bytes.fromhex("F488C5A2B1D7E3")


def gmc(port: str, **options):
    return registry.create(
        "gmc",
        meter_id="g",
        poll_interval_s=1.0,
        options={"port": port, "read_clock": False, "read_battery": False, **options},
    )


async def converse(pairs, reads: int = 1, **options):
    device = ScriptedDevice(pairs)
    with PtyEmulator(device) as emu:
        driver = gmc(emu.port, **options)
        async with driver:
            readings = [await driver.read() for _ in range(reads)]
        identity = driver.identity
    device.assert_done()
    return identity, readings


async def test_rfc1201_connect_stops_heartbeat_identifies_and_reads_2_byte_cpm() -> None:
    identity, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", V5),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPM>>", b"\x00\x2a"),
        ]
    )
    assert (identity.model, identity.firmware, identity.serial) == ("GMC-320+V5", "RRe 5.73", SERIAL.hex().upper())
    assert (reading.value, reading.unit, reading.quantity) == (42.0, "cpm", Quantity.COUNT_RATE)
    assert reading.raw == b"\x00\x2a"


async def test_rfc1801_reads_4_byte_cpm_and_converts_with_sensitivity() -> None:
    _, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-600+Re 2.52"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPM>>", (1538).to_bytes(4, "big")),
        ],
        sensitivity_cpm_per_uSv_h=153.8,
    )
    assert reading.value == pytest.approx(10.0)
    assert reading.unit == "uSv/h" and reading.meter_value == 1538
    assert [c.name for c in reading.conversions] == ["cpm_to_uSv_h"]


async def test_dual_tube_low_dose_tube_uses_getcpml() -> None:
    _, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-500+Re 2.28"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPML>>", (77).to_bytes(4, "big")),
        ],
        tube="low",
    )
    assert reading.value == 77 and reading.conversions[0].name == "tube"


async def test_battery_is_read_at_connect_when_asked() -> None:
    identity, _ = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-300Re 2.10"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETVOLT>>", b"\x62"),
            (b"<GETCPM>>", b"\x00\x10"),
        ],
        read_battery=True,
    )
    assert identity.extra["battery_V"] == "9.8"


async def test_heartbeat_mode_streams_cps_masked_to_14_bits() -> None:
    _, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-300Re 2.10"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<HEARTBEAT1>>", b"\x40\x03"),
            (b"<HEARTBEAT0>>", b""),
        ],
        mode="heartbeat",
    )
    assert reading.value == 180.0 and reading.raw == b"\x40\x03"
    assert reading.conversions[0].name == "cps_to_cpm"


async def test_heartbeat_frames_from_the_emulator_one_per_second() -> None:
    with PtyEmulator(GmcDevice(model="GMC-320+V5", cpm=240, step=1)) as emu:
        async with gmc(emu.port, mode="heartbeat") as driver:
            values = [(await driver.read()).value for _ in range(2)]
            emu.fault = "garbage"  # a burst of the wrong size: garbage, and the next frame is aligned again
            with pytest.raises(FrameError, match="heartbeat"):
                await driver.read()
            emu.fault = None
            values.append((await driver.read()).value)
    assert values == [240.0, 240.0, 240.0]


async def test_heartbeat_left_running_by_another_program_is_stopped_at_connect() -> None:
    device = GmcDevice(step=1, heartbeat_at_start=True)
    with PtyEmulator(device) as emu:
        await asyncio.sleep(1.2)  # the meter is already streaming into the port
        async with gmc(emu.port) as driver:
            readings = [await driver.read() for _ in range(3)]
    assert device.commands[0] == "HEARTBEAT0"
    assert [r.value for r in readings] == device.cpm_served == [120, 121, 122]


async def test_a_reply_of_the_wrong_length_is_a_frame_error() -> None:
    device = ScriptedDevice(
        [(b"<HEARTBEAT0>>", b""), (b"<GETVER>>", V5), (b"<GETSERIAL>>", SERIAL), (b"<GETCPM>>", b"\x00\x2a\x99")]
    )
    with PtyEmulator(device) as emu:
        async with gmc(emu.port) as driver:
            with pytest.raises(FrameError, match="expected 2 bytes, got 3"):
                await driver.read()
    device.assert_done()


async def test_stray_bytes_waiting_before_a_command_are_flushed_not_read_as_its_reply() -> None:
    device = ScriptedDevice(
        [(b"<HEARTBEAT0>>", b""), (b"<GETVER>>", V5), (b"<GETSERIAL>>", SERIAL), (b"<GETCPM>>", b"\x00\x2a")]
    )
    with PtyEmulator(device) as emu:
        async with gmc(emu.port) as driver:
            device.push(b"\x40\x03\x99")  # e.g. a heartbeat frame and a byte of noise
            await asyncio.sleep(0.2)  # they are in the host's receive buffer before the command
            reading = await driver.read()
    device.assert_done()
    assert reading.value == 42.0 and reading.raw == b"\x00\x2a"


async def test_clock_is_read_at_connect_and_its_offset_reported() -> None:
    device_time = bytes([26, 11, 22, 8, 30, 0, 0xAA])
    identity, _ = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", V5),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETDATETIME>>", device_time),
            (b"<GETCPM>>", b"\x00\x10"),
        ],
        read_clock=True,
    )
    assert identity.extra["device_clock"] == "2026-11-22T08:30:00"
    from datetime import datetime

    from radsurvey.drivers.base import utc_now

    local_now = utc_now().astimezone().replace(tzinfo=None)
    expected = (datetime(2026, 11, 22, 8, 30) - local_now).total_seconds()
    assert abs(float(identity.extra["clock_offset_s"]) - expected) <= 5


async def test_a_garbled_clock_reply_leaves_the_clock_unknown_but_connects() -> None:
    identity, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", V5),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETDATETIME>>", bytes([26, 13, 40, 8, 30, 0, 0xAA])),  # month 13
            (b"<GETCPM>>", b"\x00\x10"),
        ],
        read_clock=True,
    )
    assert identity.extra["device_clock"] == "unknown" and "clock_offset_s" not in identity.extra
    assert reading.value == 16.0


async def test_rfc1801_heartbeat_is_4_bytes_and_not_masked() -> None:
    _, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-600+Re 2.52"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<HEARTBEAT1>>", b"\x00\x01\x40\x03"),
            (b"<HEARTBEAT0>>", b""),
        ],
        mode="heartbeat",
    )
    assert reading.raw == b"\x00\x01\x40\x03" and reading.value == 0x14003 * 60.0


async def test_rfc1801_heartbeat_frames_from_the_emulator() -> None:
    with PtyEmulator(GmcDevice(model="GMC-600+", cpm=180, step=1)) as emu:
        async with gmc(emu.port, mode="heartbeat") as driver:
            readings = [await driver.read() for _ in range(2)]
    assert [(len(r.raw), r.value) for r in readings] == [(4, 180.0), (4, 180.0)]


async def test_a_model_outside_the_table_gets_its_cpm_size_from_the_reply() -> None:
    identity, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-999Re 1.00"),
            (b"<GETCPM>>", b"\x00\x00\x00\x07"),  # detection: 4 bytes, then a quiet line
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPM>>", b"\x00\x00\x01\x2c"),
        ]
    )
    assert identity.extra["cpm_bytes"] == "4"
    assert identity.extra["cpm_bytes_source"].startswith("detected from a 4-byte GETCPM reply")
    assert reading.value == 300.0


async def test_a_model_outside_the_table_that_does_not_answer_getcpm_says_to_set_cpm_bytes() -> None:
    device = ScriptedDevice([(b"<HEARTBEAT0>>", b""), (b"<GETVER>>", b"GMC-999Re 1.00"), (b"<GETCPM>>", b"")])
    with PtyEmulator(device) as emu:
        with pytest.raises(MeterTimeout, match=r"GMC-999 Re 1\.00: CPM reply size not detected .*set cpm_bytes"):
            async with gmc(emu.port, timeout_s=0.3, auto_baud=False):
                pass
    device.assert_done()


async def test_gmc_se_reads_2_byte_cpm_without_options() -> None:
    identity, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-SE Re 1.05"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPM>>", b"\x00\x2a"),
        ]
    )
    assert (identity.model, identity.firmware, identity.extra["cpm_bytes"]) == ("GMC-SE", "Re 1.05", "2")
    assert reading.value == 42.0


async def test_cpm_bytes_option_overrides_the_table() -> None:
    identity, [reading] = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-SE Re 1.05"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETCPM>>", b"\x00\x00\x00\x2a"),
        ],
        cpm_bytes=4,
    )
    assert identity.extra["cpm_bytes_source"] == "config" and reading.value == 42.0


async def test_volt_bytes_overrides_the_assumed_gmc_800_voltage_format() -> None:
    identity, _ = await converse(
        [
            (b"<HEARTBEAT0>>", b""),
            (b"<GETVER>>", b"GMC-800Re1.10"),
            (b"<GETSERIAL>>", SERIAL),
            (b"<GETVOLT>>", b"\x26"),
            (b"<GETCPM>>", (20).to_bytes(4, "big")),
        ],
        read_battery=True,
        volt_bytes=1,
    )
    assert identity.extra["battery_V"] == "3.8"


def test_options_need_exactly_one_port_identity() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        registry.get("gmc").options_model.model_validate({})
    with pytest.raises(ValidationError):
        registry.get("gmc").options_model.model_validate({"port": "/dev/x", "usb": "1a86:7523"})
    with pytest.raises(ValidationError):
        registry.get("gmc").options_model.model_validate({"usb": "CH340"})


@pytest.mark.parametrize(
    ("raw", "model", "firmware"),
    [
        (b"GMC-300Re 2.10", "GMC-300", "Re 2.10"),
        (V5, "GMC-320+V5", "RRe 5.73"),
        (b"GMC-500+Re 2.28", "GMC-500+", "Re 2.28"),
        (b"GMC-800Re1.10", "GMC-800", "Re1.10"),
        (b"GMC-SE Re 1.05", "GMC-SE", "Re 1.05"),
        (b"GMC-SERe 1.05", "GMC-SE", "Re 1.05"),
    ],
)
def test_version_strings_of_every_length(raw: bytes, model: str, firmware: str) -> None:
    assert codec.parse_version(raw) == (model, firmware)


@pytest.mark.parametrize(
    ("model", "firmware", "cpm_bytes", "volt_bytes", "baudrate"),
    [
        # GeigerLog gdev_gmc.py model table; the baud rates per GQ-RFC1201 (3.xx and earlier 57600,
        # 4.xx and later 115200; pygmc defaults the 300E+ to 57600: auto-baud tries both)
        ("GMC-300", "Re 2.10", 2, 1, 57600),
        ("GMC-300", "Re 4.54", 2, 1, 115200),  # GMC-300E+
        ("GMC-280", "Re 4.22", 2, 1, 57600),  # the fixed-57600 generation
        ("GMC-300S", "Re 1.03", 2, 1, 57600),
        ("GMC-320+V5", "RRe 5.73", 2, 1, 115200),
        ("GMC-SE", "Re 1.05", 2, 1, 115200),
        ("GMC-500", "Re 1.08", 2, 5, 115200),
        ("GMC-500", "Re 2.10", None, 5, 115200),  # not documented: detected
        ("GMC-500+", "Re 1.22", 4, 5, 115200),
        ("GMC-500+", "Re 2.28", 4, 5, 115200),
        ("GMC-510", "Re 1.04", 4, 1, 115200),
        ("GMC-600+", "Re 2.26", 2, 5, 115200),
        ("GMC-600", "Re 2.39", 2, 5, 115200),
        ("GMC-600+", "Re 2.41", 4, 5, 115200),
        ("GMC-600+", "Re 2.52", 4, 5, 115200),
        ("GMC-800", "Re1.10", 4, 5, 115200),
    ],
)
def test_model_table(model: str, firmware: str, cpm_bytes, volt_bytes: int, baudrate: int) -> None:
    spec = codec.model_spec(model, firmware)
    assert spec is not None
    assert (spec.cpm_bytes, spec.volt_bytes, spec.baudrate) == (cpm_bytes, volt_bytes, baudrate)
    assert spec.source
    assert codec.model_spec("GMC-500+", "Re 2.28").dual_tube
    assert codec.model_spec("GMC-500", "Re 1.08").dual_tube  # the GMC-500 (1.08) has two tubes
    assert codec.model_spec("GMC-999") is None


def test_rad_pro_on_a_gmc_800_is_recognised_and_sent_to_the_radpro_driver() -> None:
    with pytest.raises(codec.RadProFirmware, match='use driver = "radpro"'):
        codec.parse_version(b"GMC-800Re RADP")


@pytest.mark.parametrize(
    ("raw", "volts"),
    [(b"4.0v\x00", 4.0), (b"3.95v\x00\x00\x00\x00", 3.95), (b"3.97v", 3.97), (b"4.8v\x00", 4.8)],
)
def test_ascii_volt_with_nul_padding(raw: bytes, volts: float) -> None:
    assert codec.parse_volt(raw, 5) == pytest.approx(volts)


def test_volt_with_bytes_after_the_padding_is_garbage() -> None:
    with pytest.raises(FrameError):
        codec.parse_volt(b"4.0v\x00\x13", 5)


def test_volt_formats() -> None:
    assert codec.parse_volt(b"\x62", 1) == pytest.approx(9.8)
    assert codec.parse_volt(b"3.97v", 5) == pytest.approx(3.97)


def test_datetime_needs_its_terminator() -> None:
    assert codec.parse_datetime(bytes([26, 11, 22, 8, 30, 0, 0xAA])).isoformat() == "2026-11-22T08:30:00"
    with pytest.raises(FrameError):
        codec.parse_datetime(bytes([26, 11, 22, 8, 30, 0, 0x00]))
    with pytest.raises(FrameError):
        codec.parse_datetime(bytes([26, 13, 22, 8, 30, 0, 0xAA]))


# -- fuzzing: any bytes -> a value or FrameError, nothing else (not even another MeterError) ----

FRAMES = st.one_of(
    st.binary(max_size=40),
    st.sampled_from(
        [V5, b"GMC-300Re 2.10", b"GMC-800Re RADP", b"3.97v", b"4.0v\x00", bytes([26, 11, 22, 8, 30, 0, 0xAA])]
    ).flatmap(
        lambda good: st.binary(max_size=4).map(lambda noise: good[: len(good) // 2] + noise + good[len(good) // 2 :])
    ),
)


def _parsers(frame: bytes):
    yield lambda: codec.parse_version(frame)
    yield lambda: codec.parse_cpm(frame, 2)
    yield lambda: codec.parse_cpm(frame, 4)
    yield lambda: codec.parse_heartbeat_cps(frame, 2, "rfc1201")
    yield lambda: codec.parse_heartbeat_cps(frame, 4, "rfc1801")
    yield lambda: codec.cpm_bytes_from_reply(frame)
    yield lambda: codec.parse_serial(frame)
    yield lambda: codec.parse_volt(frame, 1)
    yield lambda: codec.parse_volt(frame, 5)
    yield lambda: codec.parse_datetime(frame)


@settings(max_examples=400, deadline=200)
@given(FRAMES)
def test_parsers_raise_only_frame_errors(frame: bytes) -> None:
    for parse in _parsers(frame):
        try:
            parse()
        except FrameError as err:
            assert type(err) in (FrameError, codec.RadProFirmware)


def test_the_docs_list_every_model_and_firmware_with_cpm_size_baud_and_source() -> None:
    from pathlib import Path

    root = Path(codec.__file__).resolve().parents[2]
    for doc in (root / "drivers" / "gmc" / "README.md", root / "docs" / "drivers.md"):
        text = doc.read_text()
        for row in codec.MODELS:
            if row.cpm_bytes:
                cpm = str(row.cpm_bytes)
            else:
                cpm = "detected" if row.firmware != "Rad Pro" else "use the radpro driver"
            line = f"| {row.model} | {row.firmware} | {cpm} | {row.volt} | {row.baudrate} | {row.source} |"
            assert line in text, (doc.name, line)


@pytest.mark.parametrize("attempt", range(4))
async def test_scan_probe_finds_a_gmc_300e_plus_whose_heartbeat_was_left_on(attempt: int) -> None:
    from radsurvey.drivers.gmc.driver import probe

    device = GmcDevice(model="gmc-300e+-4.54", heartbeat_at_start=True, baudrate=0)
    with PtyEmulator(device) as emu:
        await asyncio.sleep(0.3 * attempt)  # land the probe at another phase of the 1 s heartbeat each time
        identity = await probe(emu.port, 57600, 0.5)
    assert identity is not None and (identity.model, identity.firmware) == ("GMC-300", "Re 4.54")
    assert device.commands[:2] == ["HEARTBEAT0", "GETVER"]


@pytest.mark.parametrize("text", [b"GMC-9Re 1.0", b"GMC-9Re 1.00", b"GMC-300Re 1.0", b"GMC-ABCRe 2.10"])
def test_a_version_that_no_gmc_sends_is_refused(text: bytes) -> None:
    with pytest.raises(FrameError, match="is not a GMC version"):
        codec.parse_version(text)


async def test_the_battery_is_shown_as_the_meter_says_it() -> None:
    with PtyEmulator(GmcDevice(model="gmc-500+-2.28")) as emu:  # GETVOLT answers 3.97v
        options = {"port": emu.port, "read_clock": False}
        async with asyncio.timeout(20), registry.create("gmc", meter_id="g", poll_interval_s=1, options=options) as d:
            pass
    assert d.identity.extra["battery_V"] == "3.97"
