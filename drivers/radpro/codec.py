"""Rad Pro USB protocol (Gissio/radpro docs/comm.md), sans I/O.

ASCII request/response over USB-CDC at 115200 8N1: ``GET name\\r\\n`` ->
``OK payload\\r\\n`` or ``ERROR\\r\\n``. Firmware versions differ in what they
know (``tubeConversionFactor`` became ``tubeSensitivity`` in 2.1.1; ``tubeType``
arrived in 3.x), so an ``ERROR`` is an answer, not garbage: it raises
:class:`CommandRefused` and the driver falls back.
"""

from __future__ import annotations

import math
import re

from radsurvey.protocols.errors import FrameError

BAUDRATE = 115200
PULSE_COUNT_MODULO = 2**32
MAX_LINE_BYTES = 512

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_DECIMAL = re.compile(r"^[+-]?\d{1,12}(?:\.\d{1,9})?$")


class CommandRefused(FrameError):
    """The meter answered ERROR (unknown in this firmware, or not allowed)."""


def request(verb: str, name: str, *args: str) -> bytes:
    """``VERB name [args]\\r\\n``; ValueError for what cannot be sent."""
    if verb not in ("GET", "SET", "RESET", "START"):
        raise ValueError(f"not a Rad Pro verb: {verb!r}")
    if not _NAME.match(name):
        raise ValueError(f"not a Rad Pro property name: {name!r}")
    for arg in args:
        if not re.fullmatch(r"[A-Za-z0-9.+-]{1,32}", arg):
            raise ValueError(f"not a Rad Pro argument: {arg!r}")
    return " ".join((verb, name, *args)).encode("ascii") + b"\r\n"


def parse_reply(line: bytes) -> str:
    """One reply line -> its payload ('' for a bare OK); CommandRefused on ERROR."""
    if len(line) > MAX_LINE_BYTES:
        raise FrameError(f"reply of {len(line)} bytes is too long", raw=line[:64])
    text_bytes = line.rstrip(b"\r\n")
    if any(b < 0x20 or b > 0x7E for b in text_bytes):
        raise FrameError("reply is not printable ASCII", raw=line)
    text = text_bytes.decode("ascii")
    if text == "ERROR":
        raise CommandRefused("the meter answered ERROR", raw=line)
    if text == "OK":
        return ""
    if text.startswith("OK "):
        return text[3:]
    raise FrameError(f"reply {text[:40]!r} is neither 'OK ...' nor 'ERROR'", raw=line)


def parse_device_id(payload: str) -> tuple[str, str, str]:
    """``hardware;software;id`` -> its three parts."""
    parts = payload.split(";")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise FrameError(f"deviceId {payload[:60]!r} is not 'hardware;software;id'", raw=payload.encode())
    return parts[0], parts[1], parts[2]


def parse_decimal(payload: str, what: str) -> float:
    if not _DECIMAL.match(payload):
        raise FrameError(f"{what}: {payload[:40]!r} is not a decimal number", raw=payload.encode())
    value = float(payload)
    if not math.isfinite(value):
        raise FrameError(f"{what}: {payload[:40]!r} is not finite", raw=payload.encode())
    return value


def parse_pulse_count(payload: str) -> int:
    if not re.fullmatch(r"\d{1,10}", payload) or int(payload) >= PULSE_COUNT_MODULO:
        raise FrameError(f"tubePulseCount {payload[:40]!r} is not a 32-bit count", raw=payload.encode())
    return int(payload)


# No Geiger-Mueller tube counts this fast (a dead time of 10 us caps it near 1e5/s);
# a "wrap" that would need more pulses per second than this is a counter set back.
MAX_PLAUSIBLE_CPS = 1_000_000


def pulses_between(previous: int, current: int, elapsed_s: float) -> int | None:
    """Pulses counted from ``previous`` to ``current`` over ``elapsed_s`` seconds.

    The counter wraps to 0 after 2**32-1 (docs/comm.md). A counter that went backwards
    by more than a wrap can explain (reset on the meter, or set by another tool) is a
    restart of counting: None, since the pulses of this interval are unknown.
    """
    if current >= previous:
        return current - previous
    wrapped = current + PULSE_COUNT_MODULO - previous
    if elapsed_s > 0 and wrapped <= MAX_PLAUSIBLE_CPS * elapsed_s:
        return wrapped
    return None
