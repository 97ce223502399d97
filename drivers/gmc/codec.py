"""GQ GMC serial protocol (GQ-RFC1201, GQ-RFC1801), sans I/O.

Commands are ASCII ``<NAME>>`` with any binary parameters before ``>>``; the
host starts every exchange. Reply sizes depend on the model *and* its firmware
(the table :data:`MODELS`, from GeigerLog's per-model settings in ``gdev_gmc.py``
and pygmc's device classes): CPM comes in 2 bytes on the GMC-280/300/320/SE, the
GMC-500 without plus (firmware 1.x) and the GMC-600/600+ before firmware 2.4; in
4 bytes on the GMC-500+, 510+, the GMC-600+ from 2.4 and the GMC-800. Where the
sources do not pin the size (a model or firmware outside the table) the driver
detects it from the reply (see :func:`cpm_bytes_from_reply`).

Battery voltage is 1 byte x 0.1 V (RFC1201, and the 510+ per GeigerLog) or ASCII
like ``3.97v``; real GMC-500+/600+ answer ``4.0v`` followed by one or more NUL
bytes (pygmc's recorded device data), so :func:`parse_volt` takes the text up to
the first NUL. That the GMC-800's voltage is ASCII is an ASSUMPTION (GeigerLog
leaves it unset, PyGMC does not document it): ``volt_bytes = 1`` corrects it.

GETVER's length varies by firmware (``GMC-300Re 2.10`` is 14 bytes,
``GMC-320+V5\\x00RRe 5.73`` is 19 with a NUL). A GMC-800 running Rad Pro answers
GETVER with ``GMC-800Re RADP`` (Rad Pro's ``comm.c``): :class:`RadProFirmware`.
Heartbeat CPS on RFC1201 carries garbage in the top two bits: mask ``0x3FFF``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from radsurvey.protocols.errors import FrameError

SERIAL_BYTES = 7
DATETIME_BYTES = 7
VERSION_MAX_BYTES = 32
VOLT_MAX_BYTES = 16
RFC1201_CPS_MASK = 0x3FFF
# Rates to try when the configured one (or none) does not answer GETVER: the two
# factory defaults first, then the other rates a GMC can be set to (pygmc's
# BAUDRATES; GeigerLog's table of the config's baud-rate codes, which has 28800).
BAUDRATES = (115200, 57600, 38400, 28800, 19200, 14400, 9600, 4800, 2400, 1200)

_NAME = re.compile(rb"^[A-Z][A-Z0-9]{1,15}$")
# Model: "GMC-" and three digits ("GMC-320+V5") or "SE" (GMC-SE); then "Re"/"RRe" and a version
# with two digits after the point, as every GETVER in GQ-RFC1201/1801 and GeigerLog's model table
# has ("2.10", "1.08"): "GMC-9Re 1.0" is not a GMC.
_VERSION = re.compile(r"^(GMC-(?:\d{3}|SE)\S*?)\s*(R?Re\s?(\d+)\.(\d{2})\S*)\s*$")
_RADPRO = re.compile(r"^(GMC-[A-Za-z0-9]\S*?)\s*Re\s*RADP\s*$")


class RadProFirmware(FrameError):
    """The meter answered GETVER as Rad Pro does on a GMC-800: it speaks the Rad Pro protocol."""


@dataclass(frozen=True)
class ModelSpec:
    """Reply sizes of one GMC model and firmware, and where they come from."""

    family: str  # rfc1201 | rfc1801 | spec404
    cpm_bytes: int | None  # None: not known, detect from the reply
    volt_bytes: int  # 1 (binary x 0.1 V) or 5 (ASCII, possibly NUL-padded)
    dual_tube: bool = False  # GETCPML/GETCPMH (GMC-500+)
    baudrate: int = 115200  # factory default
    source: str = ""


RFC1201 = ModelSpec("rfc1201", cpm_bytes=2, volt_bytes=1)
RFC1801 = ModelSpec("rfc1801", cpm_bytes=4, volt_bytes=5)
RFC1801_DUAL = ModelSpec("rfc1801", cpm_bytes=4, volt_bytes=5, dual_tube=True)
SPEC404 = ModelSpec("spec404", cpm_bytes=4, volt_bytes=5)  # volt_bytes=5 is assumed (see above)

_GL = "GeigerLog gdev_gmc.py model table"


@dataclass(frozen=True)
class ModelRow:
    """One row of the documented model table (README and docs/drivers.md list the same)."""

    model: str  # as GETVER reports it (prefix match on the number, see model_spec)
    firmware: str  # range, for people
    cpm_bytes: int | None
    volt: str
    baudrate: int
    source: str


MODELS: tuple[ModelRow, ...] = (
    ModelRow("GMC-280", "all", 2, "1 byte", 57600, "GQ-RFC1201 (as kept by pygmc): the fixed-57600 generation"),
    ModelRow("GMC-300", "< 4.0", 2, "1 byte", 57600, f"GQ-RFC1201; {_GL}; pygmc GMC300 default 57600"),
    ModelRow(
        "GMC-300E+ (GETVER GMC-300Re 4.xx)",
        "4.xx",
        2,
        "1 byte",
        115200,
        "GQ-RFC1201 (4.xx and later); pygmc and GeigerLog say 57600: auto-baud tries both",
    ),
    ModelRow("GMC-300S", "1.xx", 2, "1 byte", 57600, f"{_GL}; pygmc GMC300S 57600"),
    ModelRow("GMC-320 / 320+ / 320S", "all", 2, "1 byte", 115200, f"GQ-RFC1201; {_GL}"),
    ModelRow("GMC-320+V5", "5.xx", 2, "1 byte", 115200, f"{_GL} (GETVER with a NUL)"),
    ModelRow("GMC-SE", "all", 2, "1 byte", 115200, "behaves as GQ-RFC1201 (protocol notes §8)"),
    ModelRow("GMC-500", "1.x", 2, "ASCII", 115200, f"{_GL} (two tubes)"),
    ModelRow("GMC-500", "2.x and later", None, "ASCII", 115200, "not documented: detected from the reply"),
    ModelRow("GMC-500+", "all", 4, "ASCII", 115200, f"GQ-RFC1801; {_GL}; pygmc"),
    ModelRow("GMC-510+ (GETVER GMC-510Re)", "1.xx", 4, "1 byte", 115200, _GL),
    ModelRow("GMC-600 / 600+", "< 2.4", 2, "ASCII", 115200, _GL),
    ModelRow("GMC-600 / 600+", ">= 2.4", 4, "ASCII", 115200, f"GQ-RFC1801; {_GL}"),
    ModelRow("GMC-800", "1.xx", 4, "ASCII (assumed)", 115200, "pygmc spec404; GeigerLog"),
    ModelRow("GMC-800 with Rad Pro (GETVER GMC-800Re RADP)", "Rad Pro", None, "-", 115200, "Rad Pro comm.c"),
)


def _firmware_number(firmware: str) -> float | None:
    m = re.search(r"(\d+)\.(\d+)", firmware)
    return float(f"{m.group(1)}.{m.group(2)}") if m else None


def model_spec(model: str, firmware: str = "") -> ModelSpec | None:
    """Reply sizes of ``model`` running ``firmware`` (as GETVER reports them); None when unknown.

    A returned spec with ``cpm_bytes`` None means: a known family, but the sources do not
    say how many bytes this firmware sends for CPM (detect it).
    """
    fw = _firmware_number(firmware)
    if re.match(r"^GMC-SE\b", model):
        return ModelSpec("rfc1201", 2, 1, source="GMC-SE: as GQ-RFC1201")
    m = re.match(r"^GMC-(\d{3})(\+?)", model)
    if not m:
        return None
    number, plus = m.group(1), m.group(2)
    if number == "300":
        # GQ-RFC1201: firmware 4.xx and later run at 115200, 3.xx and earlier at 57600 (pygmc and
        # GeigerLog default the 300E+ to 57600, against the maker: auto-baud tries both).
        baud = 115200 if fw is not None and fw >= 4 else 57600
        return ModelSpec("rfc1201", 2, 1, baudrate=baud, source=f"GQ-RFC1201 ({baud} baud for this firmware); {_GL}")
    if number == "280":
        return ModelSpec("rfc1201", 2, 1, baudrate=57600, source="GQ-RFC1201: the fixed-57600 generation")
    if number == "320":
        return ModelSpec("rfc1201", 2, 1, source=f"GQ-RFC1201; {_GL}")
    if number == "500" and plus:
        return ModelSpec("rfc1801", 4, 5, dual_tube=True, source=f"GQ-RFC1801; {_GL}")
    if number == "500":
        if fw is not None and fw < 2:  # firmware 1.08: two tubes, 2-byte CPM
            return ModelSpec("rfc1801", 2, 5, dual_tube=True, source=f"{_GL} (GMC-500 firmware 1.x: 2-byte CPM)")
        return ModelSpec("rfc1801", None, 5, source="GMC-500 firmware outside the sources: CPM size detected")
    if number == "510":
        return ModelSpec("rfc1801", 4, 1, source=f"{_GL} (GMC-510+)")
    if number == "600":
        if fw is None:
            return ModelSpec("rfc1801", None, 5, source="GMC-600 firmware not readable: CPM size detected")
        if fw < 2.4:
            return ModelSpec("rfc1801", 2, 5, source=f"{_GL} (GMC-600+ before firmware 2.4: 2-byte CPM)")
        return ModelSpec("rfc1801", 4, 5, source=f"GQ-RFC1801; {_GL}")
    if number == "800":
        return ModelSpec("spec404", 4, 5, source="pygmc spec404; GeigerLog")
    return None


def cpm_bytes_from_reply(data: bytes) -> int:
    """The CPM size a meter uses, from one whole GETCPM reply (read until the line went quiet)."""
    if len(data) in (2, 4):
        return len(data)
    raise FrameError(f"GETCPM: a reply of {len(data)} bytes is neither 2 nor 4 bytes", raw=data)


def command(name: str, params: bytes = b"") -> bytes:
    """``<NAME[params]>>``; ValueError for names the protocol cannot carry."""
    raw = name.encode("ascii")
    if not _NAME.match(raw):
        raise ValueError(f"not a GMC command name: {name!r}")
    return b"<" + raw + params + b">>"


def _check_len(data: bytes, n: int, what: str) -> None:
    if len(data) != n:
        raise FrameError(f"{what}: expected {n} bytes, got {len(data)}", raw=data)


def parse_version(data: bytes) -> tuple[str, str]:
    """GETVER reply -> (model, firmware)."""
    if not data or len(data) > VERSION_MAX_BYTES:
        raise FrameError(f"GETVER: {len(data)} bytes is not a version string", raw=data)
    text_bytes = data.replace(b"\x00", b" ")
    if any(b < 0x20 or b > 0x7E for b in text_bytes):
        raise FrameError("GETVER: reply is not printable ASCII", raw=data)
    text = text_bytes.decode("ascii").strip()
    if _RADPRO.match(text):
        raise RadProFirmware(
            f'GETVER answered {text!r}: this meter runs the Rad Pro firmware; use driver = "radpro"', raw=data
        )
    m = _VERSION.match(text)
    if not m:
        raise FrameError(f"GETVER: {text_bytes.decode('ascii')!r} is not a GMC version", raw=data)
    return m.group(1), m.group(2)


def parse_uint(data: bytes, n: int, what: str) -> int:
    """Big-endian unsigned integer of exactly ``n`` bytes."""
    if n not in (1, 2, 3, 4):
        raise ValueError("n must be 1..4")
    _check_len(data, n, what)
    return int.from_bytes(data, "big")


def parse_cpm(data: bytes, cpm_bytes: int) -> int:
    return parse_uint(data, cpm_bytes, "CPM")


def parse_heartbeat_cps(data: bytes, cpm_bytes: int, family: str) -> int:
    """One heartbeat frame (as many bytes as a CPM reply) -> counts in the last second."""
    value = parse_uint(data, cpm_bytes, "heartbeat CPS")
    return value & RFC1201_CPS_MASK if family == "rfc1201" else value


def parse_serial(data: bytes) -> str:
    _check_len(data, SERIAL_BYTES, "GETSERIAL")
    return data.hex().upper()


def parse_volt(data: bytes, volt_bytes: int) -> float:
    """Battery voltage in volts.

    ``volt_bytes`` 1: one byte x 0.1 V. Otherwise ASCII such as ``3.97v``; real meters
    pad it with NUL bytes (``4.0v\\x00``), which end the text.
    """
    if volt_bytes == 1:
        _check_len(data, 1, "GETVOLT")
        return data[0] / 10.0
    if not data or len(data) > VOLT_MAX_BYTES:
        raise FrameError(f"GETVOLT: {len(data)} bytes is not a voltage", raw=data)
    text, _, padding = data.partition(b"\x00")
    if padding.strip(b"\x00"):
        raise FrameError(f"GETVOLT: {data!r} has bytes after its NUL padding", raw=data)
    m = re.fullmatch(rb"\s*(\d{1,2}(?:\.\d{1,3})?)\s*[vV]?\s*", text)
    if not m:
        raise FrameError(f"GETVOLT: {data!r} is not a voltage", raw=data)
    return float(m.group(1))


def parse_datetime(data: bytes) -> datetime:
    """GETDATETIME ``YY MM DD HH MM SS 0xAA`` -> naive device-local time (no zone on the wire)."""
    _check_len(data, DATETIME_BYTES, "GETDATETIME")
    if data[6] != 0xAA:
        raise FrameError("GETDATETIME: missing 0xAA terminator", raw=data)
    try:
        return datetime(2000 + data[0], data[1], data[2], data[3], data[4], data[5])
    except ValueError as err:
        raise FrameError(f"GETDATETIME: {err}", raw=data) from None
