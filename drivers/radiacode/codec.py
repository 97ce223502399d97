"""The RadiaCode 101/102/103/110 byte protocol, sans I/O: request frames, replies, the data buffer.

Facts from the MIT library ``radiacode`` 0.4.0 (github cdump/radiacode: ``radiacode.py``,
``transports/usb.py``, ``decoders/databuf.py``, ``types.py``), read for facts, no code
taken:

* A frame is a 4-byte little-endian length and that many bytes, the same on USB bulk
  (OUT 0x01, IN 0x81), over BLE (write/notify characteristics) and, here, over TCP.
* A request is ``<HBB`` (command, 0, 0x80 + seq; seq 0..31) and its arguments; the reply
  starts with the same 4 header bytes.
* ``RD_VIRT_STRING`` (0x0826) with a ``<I`` string id answers ``<II`` (return code 1,
  length) and that many bytes; newer firmware adds one trailing NUL.
* ``GET_VERSION`` (0x000A) answers boot and target versions: ``<HH`` (minor, major) and a
  string with a one-byte length, twice.
* DATA_BUF (string 0x100) is a run of records ``<BBBi`` (seq, eid, gid, time offset in
  10 ms) and a body whose size the pair (eid, gid) decides; seq steps by 1 (mod 256).
  A record kind not in :data:`BODY_SIZES` has no known size, so the rest of that buffer
  cannot be read: it is skipped and counted.
* Dose rate: the device's number times 10 000 is µSv/h (the library's exporter and web
  server examples); the conversion is recorded with every reading.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from radsurvey.protocols.errors import FrameError

USB_ID = "0483:f123"
USB_OUT_ENDPOINT = 0x01
USB_IN_ENDPOINT = 0x81
BLE_WRITE_UUID = "e63215e6-7003-49d8-96b0-b024798fb901"
BLE_NOTIFY_UUID = "e63215e7-7003-49d8-96b0-b024798fb901"

SET_EXCHANGE = 0x0007
GET_VERSION = 0x000A
RD_VIRT_STRING = 0x0826
# What the read-only driver may send; everything else (SET_TIME 0x0A04, WR_VIRT_SFR 0x0825,
# WR_VIRT_STRING 0x0827, ...) changes the meter and is never sent.
READ_ONLY_COMMANDS = frozenset({SET_EXCHANGE, GET_VERSION, RD_VIRT_STRING})
SET_EXCHANGE_ARGS = bytes.fromhex("01ff12ff")  # the library's start-up argument

VS_SERIAL_NUMBER = 0x08
VS_DATA_BUF = 0x100

MAX_FRAME_BYTES = 1 << 20  # a data buffer is a few kB; a bigger length is garbage
USV_H_PER_UNIT = 10_000  # µSv/h per unit of the device's dose rate
OLDEST_FIRMWARE = (4, 8)  # the library refuses older target firmware

HEADER = struct.Struct("<HBB")
RECORD_HEADER = struct.Struct("<BBBi")

# (eid, gid) -> body size in bytes, for the kinds whose layout is known.
BODY_SIZES: dict[tuple[int, int], int] = {
    (0, 0): struct.calcsize("<ffHHHB"),  # real-time data
    (0, 1): struct.calcsize("<ff"),  # raw data
    (0, 2): struct.calcsize("<IffHH"),  # dose-rate database
    (0, 3): struct.calcsize("<IfHHH"),  # rare data (dose, temperature, charge)
    (0, 4): struct.calcsize("<IffHH"),  # user data
    (0, 5): struct.calcsize("<IffHH"),  # schedule data
    (0, 6): struct.calcsize("<HHH"),  # accelerometer
    (0, 7): struct.calcsize("<BBH"),  # event
    (0, 8): struct.calcsize("<fH"),  # raw count rate
    (0, 9): struct.calcsize("<fH"),  # raw dose rate
}
# Sample blocks: ``<HI`` (sample count, sample time in ms) then count x this many bytes.
SAMPLE_BYTES: dict[tuple[int, int], int] = {(1, 1): 8, (1, 2): 16, (1, 3): 14}
SAMPLE_HEADER = struct.Struct("<HI")

# Event ids (the library's EventId) that say something about a reading.
EVENT_LOW_BATTERY = frozenset({2, 6})  # low-battery shutdown, battery-empty alarm
EVENT_DOSE_RATE_OFFSCALE = 11


def request(command: int, seq: int, args: bytes = b"") -> bytes:
    """The frame that asks ``command`` with sequence number ``seq`` (0..31)."""
    if not 0 <= seq < 32:
        raise ValueError("seq must be 0..31")
    body = HEADER.pack(command, 0, 0x80 + seq) + args
    return struct.pack("<I", len(body)) + body


def frame_length(prefix: bytes) -> int:
    """The length a frame's 4-byte prefix announces; FrameError when implausible."""
    if len(prefix) != 4:
        raise FrameError(f"a frame length is 4 bytes, got {len(prefix)}", raw=prefix)
    n = int.from_bytes(prefix, "little")
    if not 4 <= n <= MAX_FRAME_BYTES:
        raise FrameError(f"frame length {n} is not 4..{MAX_FRAME_BYTES}", raw=prefix)
    return n


def reply_payload(body: bytes, command: int, seq: int) -> bytes:
    """The payload of a reply to (command, seq): FrameError when it answers something else."""
    want = HEADER.pack(command, 0, 0x80 + seq)
    if body[:4] != want:
        raise FrameError(f"reply header {body[:4].hex()} does not answer request {want.hex()}", raw=body[:64])
    return body[4:]


def split_request(body: bytes) -> tuple[int, int, bytes]:
    """A request body -> (command, seq, args): the device side (emulator, tests)."""
    if len(body) < 4:
        raise FrameError("a request is at least 4 bytes", raw=body)
    command, zero, tag = HEADER.unpack_from(body)
    if zero != 0 or not 0x80 <= tag < 0xA0:
        raise FrameError(f"request header {body[:4].hex()} is not <command, 0, 0x80+seq>", raw=body[:16])
    return command, tag - 0x80, body[4:]


def virt_string(payload: bytes) -> bytes:
    """An ``RD_VIRT_STRING`` reply payload -> the string's bytes (one trailing NUL allowed)."""
    if len(payload) < 8:
        raise FrameError(f"virtual-string reply of {len(payload)} bytes is shorter than its header", raw=payload)
    code, n = struct.unpack_from("<II", payload)
    data = payload[8:]
    if code != 1:
        raise FrameError(f"virtual-string read refused (return code {code})", raw=payload[:64])
    if len(data) == n + 1 and data[-1] == 0:
        data = data[:-1]
    if len(data) != n:
        raise FrameError(f"virtual string announces {n} bytes, carries {len(data)}", raw=payload[:64])
    return data


def _short_string(payload: bytes, pos: int) -> tuple[str, int]:
    if pos >= len(payload):
        raise FrameError("version reply ends before a string", raw=payload)
    n = payload[pos]
    text = payload[pos + 1 : pos + 1 + n]
    if len(text) != n:
        raise FrameError("version reply string is cut short", raw=payload)
    return text.decode("ascii", "replace").strip("\x00 "), pos + 1 + n


@dataclass(frozen=True)
class Version:
    boot: tuple[int, int]
    boot_date: str
    target: tuple[int, int]
    target_date: str

    @property
    def firmware(self) -> str:
        return f"{self.target[0]}.{self.target[1]}"


def parse_version(payload: bytes) -> Version:
    """A ``GET_VERSION`` reply payload -> boot and target (firmware) versions."""
    if len(payload) < 4:
        raise FrameError("version reply too short", raw=payload)
    boot_minor, boot_major = struct.unpack_from("<HH", payload)
    boot_date, pos = _short_string(payload, 4)
    if len(payload) < pos + 4:
        raise FrameError("version reply has no target version", raw=payload)
    target_minor, target_major = struct.unpack_from("<HH", payload, pos)
    target_date, pos = _short_string(payload, pos + 4)
    if pos != len(payload):
        raise FrameError(f"version reply has {len(payload) - pos} bytes after its end", raw=payload)
    return Version((boot_major, boot_minor), boot_date, (target_major, target_minor), target_date)


def build_version(version: Version) -> bytes:
    """The device side of :func:`parse_version`."""

    def short(text: str) -> bytes:
        data = text.encode("ascii")
        return bytes([len(data)]) + data

    return (
        struct.pack("<HH", version.boot[1], version.boot[0])
        + short(version.boot_date)
        + struct.pack("<HH", version.target[1], version.target[0])
        + short(version.target_date)
    )


@dataclass(frozen=True)
class RealTime:
    """A real-time record: rates as the device computes them, its error estimates and flags."""

    seq: int
    offset_10ms: int
    count_rate_cps: float
    dose_rate: float  # device units; x USV_H_PER_UNIT = µSv/h
    count_rate_err_percent: float
    dose_rate_err_percent: float
    flags: int
    real_time_flags: int
    raw: bytes


@dataclass(frozen=True)
class Event:
    seq: int
    event: int
    param: int
    flags: int


@dataclass
class DataBuffer:
    """What one DATA_BUF read held: the records radsurvey uses, and what it skipped or found missing."""

    real_time: list[RealTime] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    other_records: int = 0  # known kinds radsurvey does not use (raw data, rare data, samples, ...)
    unknown: list[tuple[int, int]] = field(default_factory=list)  # (eid, gid) that ended the buffer
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected seq, seq found)
    truncated: bool = False  # the buffer ended inside a record
    last_seq: int | None = None


def decode_data_buf(data: bytes, expected_seq: int | None = None) -> DataBuffer:
    """Decode a DATA_BUF string. ``expected_seq``: the seq after the previous buffer's last record.

    Never raises on content: unknown kinds, gaps and a cut-off end are reported in the result.
    """
    out = DataBuffer()
    pos = 0
    while len(data) - pos >= RECORD_HEADER.size:
        seq, eid, gid, offset = RECORD_HEADER.unpack_from(data, pos)
        body_at = pos + RECORD_HEADER.size
        kind = (eid, gid)
        if kind in BODY_SIZES:
            size = BODY_SIZES[kind]
        elif kind in SAMPLE_BYTES:
            if len(data) - body_at < SAMPLE_HEADER.size:
                out.truncated = True
                break
            count, _ = SAMPLE_HEADER.unpack_from(data, body_at)
            size = SAMPLE_HEADER.size + count * SAMPLE_BYTES[kind]
        else:
            out.unknown.append(kind)  # no size known: the rest of this buffer cannot be read
            break
        if len(data) - body_at < size:
            out.truncated = True
            break
        if expected_seq is not None and seq != expected_seq:
            out.gaps.append((expected_seq, seq))
        expected_seq = (seq + 1) % 256
        out.last_seq = seq
        body = data[body_at : body_at + size]
        if kind == (0, 0):
            cps, dose, cps_err, dose_err, flags, rt_flags = struct.unpack("<ffHHHB", body)
            out.real_time.append(
                RealTime(
                    seq, offset, cps, dose, cps_err / 10, dose_err / 10, flags, rt_flags, data[pos : body_at + size]
                )
            )
        elif kind == (0, 7):
            event, param, flags = struct.unpack("<BBH", body)
            out.events.append(Event(seq, event, param, flags))
        else:
            out.other_records += 1
        pos = body_at + size
    if 0 < len(data) - pos < RECORD_HEADER.size and not out.unknown:
        out.truncated = True
    return out


def real_time_record(seq: int, offset_10ms: int, cps: float, dose_rate: float, flags: int = 0) -> bytes:
    """One real-time record (the device side, for the emulator and tests)."""
    return RECORD_HEADER.pack(seq % 256, 0, 0, offset_10ms) + struct.pack("<ffHHHB", cps, dose_rate, 50, 80, flags, 0)


def record(seq: int, eid: int, gid: int, body: bytes, offset_10ms: int = 0) -> bytes:
    """Any record (the device side)."""
    return RECORD_HEADER.pack(seq % 256, eid, gid, offset_10ms) + body


def virt_string_reply(data: bytes, *, trailing_nul: bool = False) -> bytes:
    """The device side of :func:`virt_string`."""
    return struct.pack("<II", 1, len(data)) + data + (b"\x00" if trailing_nul else b"")
