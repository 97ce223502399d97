"""Text-line meters, sans I/O: a profile (regex, units, statuses) turns a line into a value.

A profile is data (TOML under ``profiles/`` or inline options): a regular
expression with a named group ``value`` and optional groups ``unit`` and
``status``; a fixed ``unit`` when the line carries none; maps from the meter's
unit and status words to radsurvey's; an optional prefix of lines to ignore
(comments) and an optional pattern of non-data lines (banners, found anywhere in the
line, so a banner printed after a reset in the middle of a line is still one). See docs/drivers.md.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from radsurvey.protocols.errors import FrameError

from ..base import Status
from ..units import check_unit

MAX_LINE_BYTES = 512


def profile_names() -> list[str]:
    files = resources.files("radsurvey.drivers.ascii.profiles")
    return sorted(p.name.removesuffix(".toml") for p in files.iterdir() if p.name.endswith(".toml"))


def load_profile(name: str) -> dict[str, Any]:
    """The settings of shipped profile ``name``; ValueError naming the known ones."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", name):
        raise ValueError(f"not a profile name: {name!r}")
    path = resources.files("radsurvey.drivers.ascii.profiles") / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown ASCII profile {name!r}; shipped profiles: {', '.join(profile_names())}")
    data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return data


@dataclass(frozen=True)
class LineFormat:
    """A compiled profile: how to read one line."""

    pattern: re.Pattern[str]
    unit: str | None = None
    unit_map: dict[str, str] = field(default_factory=dict)
    status_map: dict[str, str] = field(default_factory=dict)
    ignore_prefix: str | None = None
    ignore_pattern: re.Pattern[str] | None = None  # searched anywhere in the line (banners after a reset)

    @classmethod
    def build(
        cls,
        pattern: str,
        *,
        unit: str | None = None,
        unit_map: dict[str, str] | None = None,
        status_map: dict[str, str] | None = None,
        ignore_prefix: str | None = None,
        ignore_pattern: str | None = None,
    ) -> LineFormat:
        """ValueError when the pattern or the maps cannot work."""
        ignore = None
        if ignore_pattern:
            try:
                ignore = re.compile(ignore_pattern)
            except re.error as err:
                raise ValueError(f"ignore_pattern does not compile: {err}") from None
        try:
            compiled = re.compile(pattern)
        except re.error as err:
            raise ValueError(f"pattern does not compile: {err}") from None
        if "value" not in compiled.groupindex:
            raise ValueError("pattern needs a named group 'value', e.g. (?P<value>[0-9.]+)")
        if unit is None and "unit" not in compiled.groupindex:
            raise ValueError("give unit, or a named group 'unit' in the pattern")
        if unit is not None:
            check_unit(unit)
        for said, mapped in (unit_map or {}).items():
            try:
                check_unit(mapped)
            except ValueError as err:
                raise ValueError(f"unit_map[{said!r}] = {mapped!r}: {err}") from None
        known = {s.value for s in Status}
        for word, flag in (status_map or {}).items():
            if flag not in known:
                raise ValueError(f"status_map[{word!r}] = {flag!r}: must be one of {', '.join(sorted(known))}")
        return cls(compiled, unit, dict(unit_map or {}), dict(status_map or {}), ignore_prefix, ignore)


@dataclass(frozen=True)
class ParsedLine:
    value: float
    unit: str  # after unit_map
    status: frozenset[Status]
    fields: dict[str, str]


def parse_line(line: bytes, fmt: LineFormat) -> ParsedLine | None:
    """One line (terminator included or not) -> ParsedLine, or None for an ignorable line."""
    if len(line) > MAX_LINE_BYTES:
        raise FrameError(f"line of {len(line)} bytes is too long", raw=line[:64])
    # A banner is not data, also when a reset cut the line before it or left a stray
    # byte in front of it (a brown-out): look for it before judging the bytes.
    if fmt.ignore_pattern is not None and fmt.ignore_pattern.search(line.decode("latin-1")):
        return None
    try:
        text = line.decode("ascii").strip("\r\n")
    except UnicodeDecodeError:
        raise FrameError("line is not ASCII", raw=line) from None
    if not text.strip() or (fmt.ignore_prefix and text.startswith(fmt.ignore_prefix)):
        return None
    if any(ord(c) < 0x20 and c != "\t" for c in text):
        raise FrameError("line contains control characters", raw=line)
    m = fmt.pattern.search(text)
    if not m:
        raise FrameError(f"line {text[:60]!r} does not match the profile's pattern", raw=line)
    fields = {k: v for k, v in m.groupdict().items() if v is not None}
    try:
        value = float(fields["value"])
    except (KeyError, ValueError):
        raise FrameError(f"value {fields.get('value', '')[:20]!r} is not a number", raw=line) from None
    if not math.isfinite(value):
        raise FrameError(f"value {fields['value'][:20]!r} is not finite", raw=line)
    unit_text = fields.get("unit") or fmt.unit or ""
    unit = fmt.unit_map.get(unit_text, unit_text)
    try:
        check_unit(unit)
    except ValueError:
        raise FrameError(
            f"unit {unit_text!r} in the line is not one radsurvey knows: map it with unit_map, "
            f'e.g. unit_map = {{ "{unit_text}" = "uSv/h" }}',
            raw=line,
        ) from None
    status: set[Status] = set()
    word = fields.get("status")
    if word is not None and word in fmt.status_map:
        status.add(Status(fmt.status_map[word]))
    return ParsedLine(value, unit, frozenset(status), fields)
