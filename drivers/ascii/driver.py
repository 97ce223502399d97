"""The ``ascii`` driver: meters that stream or answer text lines, described by a profile.

Read-only: it sends nothing unless the profile (or config) sets a
``poll_command``, which should be the meter's own read query.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from pydantic import Field, field_validator, model_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, Status, utc_now
from ..counting import value_reading
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..transport import ByteLink, Connector, SerialOptions, serial_connector
from ..units import DEAD_TIME_MAX_S, check_unit
from . import codec
from .codec import LineFormat

# What a meter entry gets when neither it nor its profile says otherwise.
DEFAULTS: dict[str, Any] = {
    "baudrate": 9600,
    "terminator": "\n",
    "poll_command": None,
    "unit": None,
    "unit_map": {},
    "status_map": {},
    "ignore_prefix": None,
    "ignore_pattern": None,
    "pattern": None,
    "warm_up_s": None,
}
PROFILE_KEYS = frozenset({*DEFAULTS, "timeout_s", "description", "emulator"})


class AsciiOptions(SerialOptions):
    """Options of the ``ascii`` driver; unset ones come from ``profile``."""

    profile: str | None = Field(None, description="a shipped profile (e.g. 'mightyohm'); other options override it")
    baudrate: int | None = Field(None, description="line speed, 8N1 (default: the profile's, else 9600)")  # type: ignore[assignment]
    timeout_s: float | None = Field(None, gt=0, le=60, description="line timeout (default 3 s streaming, 1 s polled)")  # type: ignore[assignment]
    poll_command: str | None = Field(None, description="text sent before each read; none: the meter streams")
    terminator: str | None = Field(None, description="line end the meter sends (default '\\n'; '\\r' is stripped)")
    pattern: str | None = Field(None, description="regex with named group 'value' and optional 'unit', 'status'")
    unit: str | None = Field(None, description="unit when the line has none: cpm, cps, uSv/h, uGy/h, mR/h, ...")
    unit_map: dict[str, str] | None = Field(None, description="meter's unit text -> unit, e.g. {'uSv/hr' = 'uSv/h'}")
    status_map: dict[str, str] | None = Field(
        None, description="meter's status word -> over_range|fault|low_battery|..."
    )
    ignore_prefix: str | None = Field(None, description="lines starting with this are not data (comments)")
    ignore_pattern: str | None = Field(
        None, description="regex found anywhere in a line that makes it not data (banners, also after a reset)"
    )
    sensitivity_cpm_per_uSv_h: float | None = Field(None, gt=0, allow_inf_nan=False)
    dead_time_s: float | None = Field(None, ge=0, le=DEAD_TIME_MAX_S, allow_inf_nan=False)
    scale: float = Field(1.0, gt=0, allow_inf_nan=False, description="calibration factor applied to the value")
    warm_up_s: float | None = Field(
        None,
        ge=0,
        le=3600,
        description="after a non-data line (a reset's banner), readings this long are flagged warming_up (0: off)",
    )

    @field_validator("baudrate")
    @classmethod
    def _standard_baud(cls, value: int | None) -> int | None:  # type: ignore[override]
        return value if value is None else SerialOptions._standard_baud(value)

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str | None) -> str | None:
        return value if value is None else check_unit(value)

    @field_validator("unit_map")
    @classmethod
    def _known_units(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        for said, unit in (value or {}).items():
            try:
                check_unit(unit)
            except ValueError as err:
                raise ValueError(f"[{said!r}] = {unit!r}: {err}") from None
        return value

    def settings(self) -> dict[str, Any]:
        """Builtin defaults < profile < this meter's explicit options."""
        merged = dict(DEFAULTS)
        if self.profile is not None:
            profile = codec.load_profile(self.profile)
            unknown = set(profile) - PROFILE_KEYS
            if unknown:
                raise ValueError(f"profile {self.profile!r} has unknown keys: {', '.join(sorted(unknown))}")
            merged.update({k: v for k, v in profile.items() if k not in ("description", "emulator")})
        for key in (*DEFAULTS, "timeout_s"):
            value = getattr(self, key)
            if value is not None:
                merged[key] = value
        if merged.get("timeout_s") is None:
            merged["timeout_s"] = 1.0 if merged["poll_command"] else 3.0
        return merged

    @model_validator(mode="after")
    def _profile_works(self) -> AsciiOptions:
        s = self.settings()
        if not s["pattern"]:
            raise ValueError("give a profile or a pattern")
        if not s["terminator"]:
            raise ValueError("terminator must not be empty")
        LineFormat.build(
            s["pattern"],
            unit=s["unit"],
            unit_map=s["unit_map"],
            status_map=s["status_map"],
            ignore_prefix=s["ignore_prefix"],
            ignore_pattern=s["ignore_pattern"],
        )
        return self


@dataclass
class _Settings:
    baudrate: int
    timeout_s: float
    poll_command: bytes | None
    terminator: bytes
    fmt: LineFormat
    warm_up_s: float = 0.0


class AsciiDriver(Driver):
    name = "ascii"
    capabilities = frozenset({Capability.DOSE_RATE, Capability.COUNT_RATE, Capability.STREAMING})

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: AsciiOptions, connector: Connector):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.connector = connector
        s = options.settings()
        self.settings = _Settings(
            baudrate=int(s["baudrate"]),
            timeout_s=float(s["timeout_s"]),
            poll_command=s["poll_command"].encode("ascii") if s["poll_command"] else None,
            terminator=s["terminator"].encode("ascii"),
            fmt=LineFormat.build(
                s["pattern"],
                unit=s["unit"],
                unit_map=s["unit_map"],
                status_map=s["status_map"],
                ignore_prefix=s["ignore_prefix"],
                ignore_pattern=s["ignore_pattern"],
            ),
            warm_up_s=float(s["warm_up_s"] or 0.0),
        )
        self._warm_until: float | None = None  # loop time until which readings are flagged warming_up
        self.self_paced = self.settings.poll_command is None  # type: ignore[misc]
        self.link: ByteLink | None = None
        self._first: Reading | None = None  # the line identify() read, handed out by the next read()

    async def open(self) -> None:
        self.link = self.connector.link(meter=self.meter_id)
        await self.link.open(5.0)
        if self.self_paced:  # lines that waited in the OS buffer are old news
            await asyncio.sleep(0.05)
            self.link.discard_input()

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            await link.close()

    async def identify(self) -> MeterIdentity:
        # Text meters rarely say who they are; the profile is the best identity we have.
        # A streaming meter must show one data line before it counts as connected. One
        # switched on just after the port opened (a kit on its own battery) sends a stray
        # byte and its banner first; we may also open in the middle of a line: skip a few
        # such fragments. Each line has its own timeout, so a banner extends the wait.
        skipped = 0
        while True:
            try:
                reading = await self.read()
                break
            except FrameError:
                skipped += 1
                if not self.self_paced or skipped > 3:
                    raise
        self._first = reading
        return MeterIdentity(
            model=self.options.profile or "ascii", extra={"first_value": f"{reading.value:g} {reading.unit}"}
        )

    async def _line(self, timeout_s: float | None = None) -> bytes:
        link = self.link
        if link is None:
            raise MeterGone("not open", meter=self.meter_id)
        if self.settings.poll_command is not None:
            link.discard_input()
            await link.write(self.settings.poll_command)
        return await link.read_until(
            self.settings.terminator, timeout_s or self.settings.timeout_s, max_bytes=codec.MAX_LINE_BYTES
        )

    async def read(self, timeout_s: float | None = None) -> Reading:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        for _ in range(20):  # a banner is a few lines; more non-data lines than this is not a meter
            raw = await self._line(timeout_s)
            try:
                parsed = codec.parse_line(raw, self.settings.fmt)
            except FrameError as err:
                raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None
            if parsed is not None:
                return self._reading(parsed, raw)
            if self.settings.warm_up_s:  # a banner: the meter was reset, its average starts again
                self._warm_until = asyncio.get_running_loop().time() + self.settings.warm_up_s
        raise MeterTimeout("20 lines in a row without data", meter=self.meter_id)

    def _reading(self, parsed: codec.ParsedLine, raw: bytes) -> Reading:
        o = self.options
        reading = value_reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=parsed.value,
            unit=parsed.unit,
            raw=raw,
            status=parsed.status,
            sensitivity_cpm_per_uSv_h=o.sensitivity_cpm_per_uSv_h,
            dead_time_s=o.dead_time_s,
            steps=_unit_map_step(parsed),
        )
        warm = self._warm_until
        if warm is not None and asyncio.get_running_loop().time() < warm:
            step = Conversion(
                "warm_up",
                detail=f"within {self.settings.warm_up_s:g} s of a reset (banner): the meter's average is still"
                " filling and under-reads; not a valid reading",
            )
            reading = replace(
                reading, status=reading.status | {Status.WARMING_UP}, conversions=(*reading.conversions, step)
            )
        if o.scale != 1.0:
            reading = replace(
                reading,
                value=reading.value * o.scale,
                conversions=(*reading.conversions, Conversion("calibration", factor=o.scale)),
            )
        return reading


def _unit_map_step(parsed: codec.ParsedLine) -> tuple[Conversion, ...]:
    said = parsed.fields.get("unit")
    if said is not None and said != parsed.unit:
        return (Conversion("unit_map", detail=f"{said!r} means {parsed.unit}"),)
    return ()


SPEC = DriverSpec(
    name="ascii",
    summary="meters that stream or answer text lines, read by a regex profile (MightyOhm, NetIO GC10, ...)",
    options_model=AsciiOptions,
    factory=AsciiDriver,
    emulator="radsurvey.drivers.ascii.emulator:AsciiDevice",
    connector=lambda options: serial_connector(options, baudrate=options.settings()["baudrate"]),
)
