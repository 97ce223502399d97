"""The GQ GMC driver: GMC-280/300/320 (RFC1201), 500/500+/600/600+ (RFC1801), 800.

Read-only: it sends only query commands (GETVER, GETSERIAL, GETCPM*, GETVOLT,
GETDATETIME) and HEARTBEAT0/1 to stop or start the CPS stream. It never sets
the clock or the configuration.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from pydantic import Field, field_validator, model_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, utc_now
from ..counting import count_rate_reading
from ..errors import MeterTimeout
from ..registry import DriverSpec
from ..transport import ByteLink, SerialConnector, SerialLink, SerialOptions, TcpConnector, serial_connector
from ..units import DEAD_TIME_MAX_S
from . import codec
from .codec import ModelSpec


class GmcOptions(SerialOptions):
    """Options of the ``gmc`` driver."""

    baudrate: int | None = Field(  # type: ignore[assignment]
        None,
        description="line speed; default: 115200, and on no answer the other GMC rates in turn (auto-baud)",
    )
    cpm_bytes: Literal[2, 4] | None = Field(None, description="override the model's CPM reply size")
    volt_bytes: Literal[1, 5] | None = Field(
        None, description="override the model's GETVOLT reply (1 byte x 0.1 V, or ASCII such as 3.97v)"
    )
    tube: Literal["sum", "low", "high"] = Field(
        "sum",
        description="sum: GETCPM, the meter's own value (on a 500+ not GETCPML + GETCPMH); low/high: that tube only",
    )
    mode: Literal["poll", "heartbeat"] = Field(
        "poll", description="poll GETCPM at poll_interval_s, or take the meter's 1 s HEARTBEAT CPS stream"
    )
    sensitivity_cpm_per_uSv_h: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="tube sensitivity; gives readings in uSv/h"
    )
    dead_time_s: float | None = Field(None, ge=0, le=DEAD_TIME_MAX_S, allow_inf_nan=False, description="tube dead time")
    read_battery: bool = Field(True, description="read the battery voltage at connect (into the identity)")
    read_clock: bool = Field(True, description="read the device clock at connect and report its drift")
    auto_baud: bool = Field(True, description="when GETVER gets no answer, try the other GMC baud rates in turn")

    @field_validator("baudrate")
    @classmethod
    def _standard_baud(cls, value: int | None) -> int | None:  # type: ignore[override]
        return value if value is None else SerialOptions._standard_baud(value)

    @model_validator(mode="after")
    def _heartbeat_sum_only(self) -> GmcOptions:
        if self.mode == "heartbeat" and self.tube != "sum":
            raise ValueError("heartbeat mode streams the sum of both tubes; use mode = 'poll' for tube = low/high")
        return self


_TUBE_COMMAND = {"sum": "GETCPM", "low": "GETCPML", "high": "GETCPMH"}
# After the port opens, leftovers of an earlier heartbeat or reply may trickle in for about
# a second (GeigerLog and pygmc drain before identifying): wait for this much silence.
_QUIET_S = 0.25
_DRAIN_MAX_S = 2.5
_GETVER_TRIES = 3


class GmcDriver(Driver):
    name = "gmc"
    capabilities = frozenset({Capability.COUNT_RATE, Capability.DOSE_RATE, Capability.BATTERY, Capability.CLOCK})
    frozen_after_s_default = 300.0  # a GM tube's background never stays on one CPM for 5 minutes

    def __init__(
        self,
        *,
        meter_id: str,
        poll_interval_s: float = 1.0,
        options: GmcOptions,
        connector: SerialConnector | TcpConnector,
    ):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.connector = connector
        self.self_paced = options.mode == "heartbeat"  # type: ignore[misc]
        self.link: ByteLink | None = None
        self.spec: ModelSpec = codec.RFC1801
        self.cpm_bytes = 4
        self.baudrate = options.baudrate or 115200
        self.stale_bytes = 0  # drained after open and between GETVER tries

    async def _open_at(self, baudrate: int, quiet_s: float = _QUIET_S) -> None:
        if self.link is not None:
            await self.link.close()
            self.link = None
        self.baudrate = baudrate
        self.link = self.connector.at(baudrate).link(meter=self.meter_id)
        await self.link.open(self.options.timeout_s * 5)
        # A heartbeat left running (by us before a crash, or by another program) would
        # interleave CPS bytes with every reply: stop it, then drain until the line is quiet.
        await self.link.write(codec.command("HEARTBEAT0"))
        self.stale_bytes += len(await self.link.drain_quiet(quiet_s=quiet_s, max_s=_DRAIN_MAX_S))

    async def open(self) -> None:
        # A meter that answered before (through this connector) is opened at that speed.
        await self._open_at(self.connector.answered_at or self.options.baudrate or 115200)

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

    def _link(self) -> ByteLink:
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

    async def query_quiet(self, name: str, max_bytes: int, timeout_s: float | None = None) -> bytes:
        """Send ``<name>>`` and return what arrives until the line is quiet (replies of varying length)."""
        link = self._link()
        link.discard_input()
        await link.write(codec.command(name))
        return await link.read_quiet(timeout_s=timeout_s or self.options.timeout_s, gap_s=0.1, max_bytes=max_bytes)

    async def _getver(self, tries: int, timeout_s: float | None = None) -> tuple[str, str, bytes]:
        """GETVER, resynchronising (drain until quiet, ask again) after a reply spoilt by stale bytes.

        Silence is not retried here: at the wrong baud rate the meter does not understand us.
        """
        for attempt in range(tries):
            if attempt:
                self.stale_bytes += len(await self._link().drain_quiet(quiet_s=_QUIET_S, max_s=_DRAIN_MAX_S))
            raw = await self.query_quiet("GETVER", codec.VERSION_MAX_BYTES + 1, timeout_s)
            try:
                model, firmware = codec.parse_version(raw)
                return model, firmware, raw
            except codec.RadProFirmware as err:
                raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None
            except FrameError as err:
                if attempt + 1 == tries:
                    raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None
        raise AssertionError("unreachable")

    async def _identify_version(self) -> tuple[str, str, bytes, dict[str, str]]:
        o = self.options
        configured = o.baudrate
        first = self.baudrate
        usual = configured or 115200
        extra: dict[str, str] = {}
        try:
            model, firmware, raw = await self._getver(_GETVER_TRIES)
        except (MeterTimeout, FrameError) as err:
            if not o.auto_baud or "Rad Pro" in str(err):
                raise
            if self.connector.answered_at is not None:
                # It answered here before: silent now means off or busy, not re-configured.
                # Only the usual rate is worth one more try (the port may be another meter now).
                rest = [usual] if usual != first else []
            else:
                rest = [b for b in (usual, *codec.BAUDRATES) if b != first]
                rest = list(dict.fromkeys(rest))
            found = None
            for baud in rest:
                await self._open_at(baud, quiet_s=0.1)
                try:
                    found = await self._getver(2, min(o.timeout_s, 0.4))
                except (MeterTimeout, FrameError):
                    continue
                break
            if found is None:
                tried = ", ".join(str(b) for b in (first, *rest))
                why = f"{err.message} (no GETVER answer at {tried} baud)"
                if isinstance(err, FrameError):
                    raise FrameError(why, raw=err.raw, meter=self.meter_id) from None
                raise MeterTimeout(why, meter=self.meter_id) from None
            model, firmware, raw = found
            said = f"configured {configured}" if configured and first == configured else f"{first}"
            extra["baudrate_source"] = f"auto-baud ({said} did not answer)"
        else:
            if configured and first == configured:
                extra["baudrate_source"] = "config"
            elif first != usual:
                extra["baudrate_source"] = "auto-baud (found at an earlier connect)"
            else:
                extra["baudrate_source"] = "default"
        self.connector.answered_at = self.baudrate
        extra["baudrate"] = str(self.baudrate)
        return model, firmware, raw, extra

    async def identify(self) -> MeterIdentity:
        link = self._link()
        o = self.options
        model, firmware, raw, extra = await self._identify_version()
        spec = codec.model_spec(model, firmware)
        if spec is not None and spec.baudrate != self.baudrate and not o.baudrate:
            extra["baudrate_note"] = f"{model}'s factory default is {spec.baudrate} baud"
        spec = spec or ModelSpec("unknown", None, 5, source=f"{model} is not in the model table")
        if o.volt_bytes is not None:
            spec = ModelSpec(spec.family, spec.cpm_bytes, o.volt_bytes, spec.dual_tube, spec.baudrate, spec.source)
        if o.tube != "sum" and not spec.dual_tube:
            raise FrameError(f"{model} has one tube; tube = {o.tube!r} needs a GMC-500+", raw=raw)
        self.spec = spec
        if o.cpm_bytes is not None:
            self.cpm_bytes, source = o.cpm_bytes, "config"
        elif spec.cpm_bytes is not None:
            self.cpm_bytes, source = spec.cpm_bytes, spec.source
        else:
            # Not pinned by the sources: one GETCPM, read until the line is quiet, tells.
            try:
                reply = await self.query_quiet(_TUBE_COMMAND[o.tube], 8)
                self.cpm_bytes = codec.cpm_bytes_from_reply(reply)
            except (MeterTimeout, FrameError) as err:
                why = f"{model} {firmware}: CPM reply size not detected ({err.message}); set cpm_bytes = 2 or 4"
                if isinstance(err, FrameError):
                    raise FrameError(why, raw=err.raw, meter=self.meter_id) from None
                raise MeterTimeout(why, meter=self.meter_id) from None
            source = f"detected from a {len(reply)}-byte GETCPM reply ({spec.source})"
        extra.update({"protocol": spec.family, "cpm_bytes": str(self.cpm_bytes), "cpm_bytes_source": source})
        if self.stale_bytes:
            extra["stale_bytes_drained"] = str(self.stale_bytes)
        serial = ""
        try:
            serial = codec.parse_serial(await self.query("GETSERIAL", codec.SERIAL_BYTES))
        except (MeterTimeout, FrameError):
            extra["serial_note"] = "GETSERIAL not answered"
        if o.read_battery:
            try:
                if spec.volt_bytes == 1:
                    volts = codec.parse_volt(await self.query("GETVOLT", 1), 1)
                else:
                    volts = codec.parse_volt(await self.query_quiet("GETVOLT", codec.VOLT_MAX_BYTES), spec.volt_bytes)
                extra["battery_V"] = str(round(volts, 3))  # as the meter says it: 3.97 stays 3.97
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
        n = self.cpm_bytes
        if o.mode == "heartbeat":
            link = self._link()
            # A heartbeat frame arrives alone once a second: reading the whole burst (until
            # the line is quiet) keeps us aligned; a burst of another length is garbage.
            raw = await link.read_quiet(timeout_s=max(2.5, o.timeout_s), gap_s=0.1, max_bytes=16)
            cps = codec.parse_heartbeat_cps(raw, n, self.spec.family)
            return self._reading(cps * 60.0, raw, (Conversion("cps_to_cpm", factor=60.0, detail="HEARTBEAT CPS x 60"),))
        command = _TUBE_COMMAND[o.tube]
        raw = await self.query(command, n)
        steps = () if o.tube == "sum" else (Conversion("tube", detail=f"{command}: {o.tube}-dose tube only"),)
        return self._reading(float(codec.parse_cpm(raw, n)), raw, steps)

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
    """Send HEARTBEAT0 and GETVER at ``baudrate``; the identity if a GMC answered."""
    link = SerialLink(port=port, baudrate=baudrate, meter=port)
    await link.open(timeout_s * 4)
    try:
        # A heartbeat left on (a GMC-300E+ streams CPS every second) would mix its frames into
        # the version reply: stop it as the driver does, then drain the leftovers.
        await link.write(codec.command("HEARTBEAT0"))
        await link.drain_quiet(quiet_s=0.1, max_s=1.5)
        await link.write(codec.command("GETVER"))
        raw = await link.read_quiet(timeout_s=timeout_s, gap_s=0.1, max_bytes=codec.VERSION_MAX_BYTES + 1)
        start = raw.find(b"GMC-")  # a stray byte before the reply's start is not part of it
        model, firmware = codec.parse_version(raw[start:] if start > 0 else raw)
        return MeterIdentity(model=model, firmware=firmware, extra={"baudrate": str(baudrate)})
    except (MeterTimeout, FrameError):  # RadProFirmware too: the radpro probe finds that meter
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
    connector=serial_connector,
)
