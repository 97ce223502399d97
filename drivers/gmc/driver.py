"""The GQ GMC driver: GMC-280/300/320 (RFC1201), 500/500+/600/600+ (RFC1801), 800.

Read-only: it sends only query commands (GETVER, GETSERIAL, GETCPM*, GETVOLT,
GETDATETIME) and HEARTBEAT0/1 to stop or start the CPS stream. It never sets
the clock or the configuration.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, model_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, utc_now
from ..counting import count_rate_reading
from ..errors import MeterTimeout
from ..registry import DriverSpec
from ..transport import SerialLink, SerialOptions, resolve_port
from ..units import DEAD_TIME_MAX_S
from . import codec
from .codec import ModelSpec


class GmcOptions(SerialOptions):
    """Options of the ``gmc`` driver."""

    cpm_bytes: Literal[2, 4] | None = Field(None, description="override the model's CPM reply size")
    volt_bytes: Literal[1, 5] | None = Field(
        None, description="override the model's GETVOLT reply size (1 byte x 0.1 V, or 5 ASCII bytes)"
    )
    tube: Literal["sum", "low", "high"] = Field("sum", description="GMC-500+: both tubes, or GETCPML / GETCPMH")
    mode: Literal["poll", "heartbeat"] = Field(
        "poll", description="poll GETCPM at poll_interval_s, or take the meter's 1 s HEARTBEAT CPS stream"
    )
    sensitivity_cpm_per_uSv_h: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="tube sensitivity; gives readings in uSv/h"
    )
    dead_time_s: float | None = Field(None, ge=0, le=DEAD_TIME_MAX_S, allow_inf_nan=False, description="tube dead time")
    read_battery: bool = Field(False, description="read the battery voltage at connect")
    read_clock: bool = Field(True, description="read the device clock at connect and report its drift")

    @model_validator(mode="after")
    def _heartbeat_sum_only(self) -> GmcOptions:
        if self.mode == "heartbeat" and self.tube != "sum":
            raise ValueError("heartbeat mode streams the sum of both tubes; use mode = 'poll' for tube = low/high")
        return self


_TUBE_COMMAND = {"sum": "GETCPM", "low": "GETCPML", "high": "GETCPMH"}


class GmcDriver(Driver):
    name = "gmc"
    capabilities = frozenset({Capability.COUNT_RATE, Capability.DOSE_RATE, Capability.BATTERY, Capability.CLOCK})
    frozen_after_s_default = 300.0  # a GM tube's background never stays on one CPM for 5 minutes

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: GmcOptions):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.self_paced = options.mode == "heartbeat"  # type: ignore[misc]
        self.link: SerialLink | None = None
        self.spec: ModelSpec = codec.RFC1801

    async def open(self) -> None:
        o = self.options
        path = resolve_port(port=o.port, usb=o.usb)
        self.link = SerialLink(port=path, baudrate=o.baudrate, meter=self.meter_id)
        await self.link.open(o.timeout_s * 5)
        # A heartbeat left running (by us before a crash, or by another program)
        # would interleave CPS bytes with every reply: stop it and drain.
        await self.link.write(codec.command("HEARTBEAT0"))
        await asyncio.sleep(0.2)
        self.link.discard_input()

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is None:
            return
        if self.options.mode == "heartbeat" and link.is_open:
            try:
                await link.write(codec.command("HEARTBEAT0"))
                await asyncio.sleep(0.05)
            except Exception:  # the meter may already be gone; closing must not fail
                pass
        await link.close()

    def _link(self) -> SerialLink:
        if self.link is None:
            from ..errors import MeterGone

            raise MeterGone("not open", meter=self.meter_id)
        return self.link

    async def query(self, name: str, n: int) -> bytes:
        """Send ``<name>>`` and return exactly ``n`` reply bytes; FrameError on extra bytes."""
        link = self._link()
        link.discard_input()
        await link.write(codec.command(name))
        data = await link.read_exact(n, self.options.timeout_s)
        extra = await link.extra_bytes(0.03)
        if extra:
            raise FrameError(f"{name}: expected {n} bytes, got {n + len(extra)}", raw=data + extra, meter=self.meter_id)
        return data

    async def identify(self) -> MeterIdentity:
        link = self._link()
        o = self.options
        link.discard_input()
        await link.write(codec.command("GETVER"))
        raw = await link.read_quiet(timeout_s=o.timeout_s, gap_s=0.1, max_bytes=codec.VERSION_MAX_BYTES + 1)
        model, firmware = codec.parse_version(raw)
        spec = codec.model_spec(model)
        if spec is None and o.cpm_bytes is None:
            raise FrameError(f"unknown GMC model {model!r}: set cpm_bytes = 2 or 4 in the meter's options", raw=raw)
        spec = spec or codec.RFC1801
        if o.cpm_bytes is not None or o.volt_bytes is not None:
            spec = ModelSpec(
                spec.family, o.cpm_bytes or spec.cpm_bytes, o.volt_bytes or spec.volt_bytes, spec.dual_tube
            )
        if o.tube != "sum" and not spec.dual_tube:
            raise FrameError(f"{model} has one tube; tube = {o.tube!r} needs a GMC-500+", raw=raw)
        self.spec = spec
        extra: dict[str, str] = {"protocol": spec.family, "cpm_bytes": str(spec.cpm_bytes)}
        serial = ""
        try:
            serial = codec.parse_serial(await self.query("GETSERIAL", codec.SERIAL_BYTES))
        except (MeterTimeout, FrameError):
            extra["serial_note"] = "GETSERIAL not answered"
        if o.read_battery:
            try:
                volts = codec.parse_volt(await self.query("GETVOLT", spec.volt_bytes), spec.volt_bytes)
                extra["battery_V"] = f"{volts:.1f}"
            except (MeterTimeout, FrameError):
                extra["battery_V"] = "unknown"
        if o.read_clock:
            try:
                device_time = codec.parse_datetime(await self.query("GETDATETIME", codec.DATETIME_BYTES))
                extra["device_clock"] = device_time.isoformat()
                local = utc_now().astimezone().replace(tzinfo=None)
                extra["clock_offset_s"] = f"{(device_time - local).total_seconds():.0f}"
            except (MeterTimeout, FrameError):
                extra["device_clock"] = "unknown"
        if o.mode == "heartbeat":
            link.discard_input()
            await link.write(codec.command("HEARTBEAT1"))
        return MeterIdentity(model=model, firmware=firmware, serial=serial, extra=extra)

    async def read(self) -> Reading:
        o = self.options
        if o.mode == "heartbeat":
            link = self._link()
            # A heartbeat frame arrives alone once a second: reading the whole burst (until
            # the line is quiet) keeps us aligned; a burst of another length is garbage.
            raw = await link.read_quiet(timeout_s=max(2.5, o.timeout_s), gap_s=0.1, max_bytes=16)
            cps = codec.parse_heartbeat_cps(raw, self.spec)
            return self._reading(cps * 60.0, raw, (Conversion("cps_to_cpm", factor=60.0, detail="HEARTBEAT CPS x 60"),))
        command = _TUBE_COMMAND[o.tube]
        raw = await self.query(command, self.spec.cpm_bytes)
        steps = () if o.tube == "sum" else (Conversion("tube", detail=f"{command}: {o.tube}-dose tube only"),)
        return self._reading(float(codec.parse_cpm(raw, self.spec.cpm_bytes)), raw, steps)

    def _reading(self, cpm: float, raw: bytes, steps: tuple[Conversion, ...]) -> Reading:
        o = self.options
        return count_rate_reading(
            meter=self.meter_id,
            ts=utc_now(),
            cpm=cpm,
            raw=raw,
            sensitivity_cpm_per_uSv_h=o.sensitivity_cpm_per_uSv_h,
            dead_time_s=o.dead_time_s,
            steps=steps,
        )


async def probe(port: str, baudrate: int, timeout_s: float = 0.5) -> MeterIdentity | None:
    """Send only GETVER at ``baudrate``; the identity if a GMC answered."""
    link = SerialLink(port=port, baudrate=baudrate, meter=port)
    await link.open(timeout_s * 4)
    try:
        link.discard_input()
        await link.write(codec.command("GETVER"))
        raw = await link.read_quiet(timeout_s=timeout_s, gap_s=0.1, max_bytes=codec.VERSION_MAX_BYTES + 1)
        model, firmware = codec.parse_version(raw)
        return MeterIdentity(model=model, firmware=firmware, extra={"baudrate": str(baudrate)})
    except (MeterTimeout, FrameError):
        return None
    finally:
        await link.close()


SPEC = DriverSpec(
    name="gmc",
    summary="GQ GMC-280/300/320/500/600/800 Geiger counters over USB serial (GQ-RFC1201/RFC1801)",
    options_model=GmcOptions,
    factory=GmcDriver,
    emulator="radsurvey.drivers.gmc.emulator:GmcDevice",
    usb_ids=("1a86:7523",),  # CH340 bridge
    baudrates=codec.BAUDRATES,
    probe=probe,
)
