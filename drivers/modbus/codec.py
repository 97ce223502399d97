"""Modbus register values, sans I/O: data types, word and byte order, status bits.

A value of 32 bits spans two 16-bit registers; devices disagree on which comes
first (``word_order``) and, more rarely, on the byte order inside a register
(``byte_order``). Decoding is exact and checked: a wrong register count or a
float that is NaN/inf is a FrameError, never a number.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from radsurvey.protocols.errors import FrameError

from ..base import Status

DataType = Literal["u16", "i16", "u32", "i32", "f32"]
Order = Literal["big", "little"]

REGISTER_COUNT: dict[str, int] = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2}
_STRUCT = {"u16": ">H", "i16": ">h", "u32": ">I", "i32": ">i", "f32": ">f"}

# Modbus exception codes (Modbus Application Protocol v1.1b3, section 7).
EXCEPTIONS: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def exception_message(code: int) -> str:
    return f"E{code:02d}: {EXCEPTIONS.get(code, 'unknown exception')}"


def _to_bytes(registers: Sequence[int], word_order: Order, byte_order: Order) -> bytes:
    words = list(registers) if word_order == "big" else list(reversed(registers))
    out = bytearray()
    for w in words:
        if not isinstance(w, int) or isinstance(w, bool) or not 0 <= w <= 0xFFFF:
            raise FrameError(f"register value {w!r} is not 16 bits")
        pair = w.to_bytes(2, "big")
        out += pair if byte_order == "big" else pair[::-1]
    return bytes(out)


def decode(
    registers: Sequence[int], data_type: DataType, *, word_order: Order = "big", byte_order: Order = "big"
) -> float:
    """Registers as the device sent them -> the number they hold."""
    n = REGISTER_COUNT[data_type]
    if len(registers) != n:
        raise FrameError(f"{data_type} needs {n} register(s), got {len(registers)}")
    data = _to_bytes(registers, word_order, byte_order)
    value = float(struct.unpack(_STRUCT[data_type], data)[0])
    if not math.isfinite(value):
        raise FrameError(f"{data_type} value is {value!r}", raw=data)
    return value


def encode(value: float, data_type: DataType, *, word_order: Order = "big", byte_order: Order = "big") -> list[int]:
    """The registers that hold ``value`` (the device side, for emulators and tests)."""
    number: float | int = value if data_type == "f32" else round(value)
    data = struct.pack(_STRUCT[data_type], number)
    words = []
    for i in range(0, len(data), 2):
        pair = data[i : i + 2]
        words.append(int.from_bytes(pair if byte_order == "big" else pair[::-1], "big"))
    return words if word_order == "big" else list(reversed(words))


def status_flags(word: int, bits: Mapping[int, str]) -> frozenset[Status]:
    """Flags of a status register: ``bits`` maps bit number -> Status value."""
    if not isinstance(word, int) or isinstance(word, bool) or not 0 <= word <= 0xFFFF:
        raise FrameError(f"status register value {word!r} is not 16 bits")
    return frozenset(Status(flag) for bit, flag in bits.items() if word >> bit & 1)


# -- Atomtex BDKG detection units (MKS-AT1117M family) ---------------------------------------
# Facts from the open ESP32 implementation VibeEngineering-LLC/atomtex-esp32
# (components/bdkg05/bdkg05.h and bdkg05.c), read for facts: Modbus RTU over USB-CDC at
# 19200 8N1, address 1; FC04 input registers, big-endian: 0x0008 f32 ambient dose-equivalent
# rate in Sv/h (0x0001 u16 temperature x 1/256 degC, 0x0004 f32 mean cps, 0x000C f32 dose in Sv).
# Before FC04 reads the unit needs a start sequence; a cold unit ignores writes for about
# 3.65 s, until it answers FC07 (read exception status).

PRESETS: dict[str, dict[str, Any]] = {
    "bdkg": {
        "baudrate": 19200,
        "unit_id": 1,
        "register_type": "input",
        "address": 0x0008,
        "data_type": "f32",
        "unit": "Sv/h",
    }
}
BDKG_READY_S = 6.0  # how long to wait for a cold unit's FC07 answer


@dataclass(frozen=True)
class Write:
    function: int  # 5 write single coil, 6 write single register
    address: int
    value: int
    why: str


BDKG_START: tuple[Write, ...] = (
    Write(6, 0x0000, 0xFFFF, "FC06 register 0 = 0xFFFF: dosimeter mode"),
    Write(5, 0x0023, 1, "FC05 coil 0x23 on: start measuring"),
    Write(5, 0x0022, 1, "FC05 coil 0x22 on: latch (apply)"),
)
