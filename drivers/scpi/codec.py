"""SCPI text replies, sans I/O: the identity and the measured number.

``*IDN?`` answers ``manufacturer,model,serial,firmware`` (IEEE 488.2 §10.14);
a measurement query answers a number, possibly with other fields around it,
which the configured ``response_pattern`` picks out (group ``value``).
"""

from __future__ import annotations

import math
import re

from radsurvey.protocols.errors import FrameError

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# A number alone, or first of comma-separated fields (value,timestamp,status on many
# meters); the number may carry letters straight after it, as Keithley electrometers
# send with their UNITs element on: ``+1.234567E-12NADC,+0000123.45secs,+00012RDNG#``
# (a reading-status letter, N = normal, then the function's unit, ADC = DC amperes;
# Keithley 6514/6517B reference manuals, FORMat:ELEMents and the ASCII data format).
DEFAULT_PATTERN = rf"^\s*(?P<value>{NUMBER})(?P<suffix>[A-Za-z]*)#?\s*(?:,.*)?$"
# The documented Keithley profile (drivers/scpi/README.md): the status letter as a group.
KEITHLEY_PATTERN = rf"^\s*(?P<value>{NUMBER})(?P<status>[A-Z])(?P<unit>[A-Z]+)(?:,.*)?#?\s*$"
MAX_REPLY_CHARS = 1024
# SCPI's "not a number" and overload sentinels (SCPI-99 vol. 1, 7.2.1.5).
SENTINELS = {9.9e37: "overload", -9.9e37: "overload", 9.91e37: "not a number"}


def parse_idn(reply: str) -> tuple[str, str, str, str]:
    """``*IDN?`` reply -> (manufacturer, model, serial, firmware)."""
    if len(reply) > MAX_REPLY_CHARS or any(ord(c) < 0x20 and c not in "\t" for c in reply.strip("\r\n")):
        raise FrameError("*IDN? reply is not a line of text", raw=reply.encode("utf-8", "replace")[:64])
    parts = [p.strip() for p in reply.strip().split(",")]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise FrameError(
            f"*IDN? reply {reply.strip()[:60]!r} is not 'maker,model,serial,firmware'",
            raw=reply.encode("utf-8", "replace")[:64],
        )
    parts += [""] * (4 - len(parts))
    return parts[0], parts[1], parts[2], ",".join(parts[3:])


def compile_pattern(pattern: str) -> re.Pattern[str]:
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise ValueError(f"response_pattern does not compile: {err}") from None
    if "value" not in compiled.groupindex:
        raise ValueError("response_pattern needs a named group 'value'")
    return compiled


def parse_measurement(reply: str, pattern: re.Pattern[str]) -> tuple[float, str | None]:
    """Reply -> (number, sentinel name or None). FrameError if no finite number is found."""
    value, sentinel, _ = parse_measurement_fields(reply, pattern)
    return value, sentinel


def parse_measurement_fields(reply: str, pattern: re.Pattern[str]) -> tuple[float, str | None, dict[str, str]]:
    """Reply -> (number, sentinel name or None, the pattern's named groups that matched)."""
    raw = reply.encode("utf-8", "replace")[:64]
    if len(reply) > MAX_REPLY_CHARS:
        raise FrameError(f"reply of {len(reply)} characters is too long", raw=raw)
    m = pattern.search(reply.strip())
    if not m or m.group("value") is None:
        raise FrameError(f"reply {reply.strip()[:60]!r} does not match the response pattern", raw=raw)
    try:
        value = float(m.group("value"))
    except ValueError:
        raise FrameError(f"{m.group('value')[:30]!r} is not a number", raw=raw) from None
    if not math.isfinite(value):
        raise FrameError(f"{m.group('value')[:30]!r} is not finite", raw=raw)
    fields = {k: v for k, v in m.groupdict().items() if v is not None}
    for sentinel, name in SENTINELS.items():
        if math.isclose(value, sentinel, rel_tol=1e-6):
            return value, name, fields
    return value, None, fields
