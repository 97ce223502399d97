"""GQ GMC serial protocol (GQ-RFC1201, GQ-RFC1801), sans I/O.

Commands are ASCII ``<NAME>>`` with any binary parameters before ``>>``; the
host starts every exchange. Reply sizes depend on the model: RFC1201 meters
(GMC-280/300/320) answer CPM in 2 bytes and battery voltage in 1 byte (x0.1 V);
RFC1801 meters (GMC-500/500+/600/600+) answer CPM in 4 bytes and voltage as 5
ASCII bytes (``3.97v``). The GMC-800 answers CPM in 4 bytes (PyGMC's "spec404");
that its voltage is 5 ASCII bytes like RFC1801 is an ASSUMPTION: neither PyGMC
nor our protocol notes document it (GeigerLog only has a 1|5 override knob), so
the ``volt_bytes`` option can correct it. GETVER's length varies by firmware
(``GMC-300Re 2.10`` is 14 bytes; ``GMC-320+V5\\x00RRe 5.73`` is 19 with a NUL);
models outside the table (``GMC-SE Re 1.05``) are accepted and need ``cpm_bytes``.
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
RFC1201_CPS_MASK = 0x3FFF
BAUDRATES = (115200, 57600)  # current firmware, then GMC-300 firmware <= 3.xx

_NAME = re.compile(rb"^[A-Z][A-Z0-9]{1,15}$")
# Model: "GMC-" and a name, numeric ("GMC-320+V5") or not ("GMC-SE"); then "Re"/"RRe" and the version.
_VERSION = re.compile(r"^(GMC-[A-Za-z0-9]\S*?)\s*(R?Re\s?\d+\.\d+\S*)\s*$")


@dataclass(frozen=True)
class ModelSpec:
    """Reply sizes of one GMC family."""

    family: str  # rfc1201 | rfc1801 | spec404
    cpm_bytes: int
    volt_bytes: int
    dual_tube: bool = False  # GETCPML/GETCPMH (GMC-500+)


RFC1201 = ModelSpec("rfc1201", cpm_bytes=2, volt_bytes=1)
RFC1801 = ModelSpec("rfc1801", cpm_bytes=4, volt_bytes=5)
RFC1801_DUAL = ModelSpec("rfc1801", cpm_bytes=4, volt_bytes=5, dual_tube=True)
SPEC404 = ModelSpec("spec404", cpm_bytes=4, volt_bytes=5)  # volt_bytes=5 is assumed (see above)


def model_spec(model: str) -> ModelSpec | None:
    """The family of ``model`` (as GETVER reports it), or None when unknown."""
    m = re.match(r"^GMC-(\d{3})(\+?)", model)
    if not m:
        return None
    number, plus = m.group(1), m.group(2)
    if number in ("280", "300", "320"):
        return RFC1201
    if number == "500":
        return RFC1801_DUAL if plus else RFC1801
    if number == "600":
        return RFC1801
    if number == "800":
        return SPEC404
    return None


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
    m = _VERSION.match(text_bytes.decode("ascii").strip())
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


def parse_heartbeat_cps(data: bytes, spec: ModelSpec) -> int:
    """One heartbeat frame -> counts in the last second."""
    value = parse_uint(data, spec.cpm_bytes, "heartbeat CPS")
    return value & RFC1201_CPS_MASK if spec.family == "rfc1201" else value


def parse_serial(data: bytes) -> str:
    _check_len(data, SERIAL_BYTES, "GETSERIAL")
    return data.hex().upper()


def parse_volt(data: bytes, volt_bytes: int) -> float:
    """Battery voltage in volts."""
    if volt_bytes == 1:
        _check_len(data, 1, "GETVOLT")
        return data[0] / 10.0
    _check_len(data, volt_bytes, "GETVOLT")
    m = re.fullmatch(rb"\s*(\d{1,2}(?:\.\d{1,3})?)\s*[vV]?\s*", data)
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
