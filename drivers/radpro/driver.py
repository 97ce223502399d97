"""The Rad Pro driver: Geiger counters running the Rad Pro firmware, over USB.

Read-only: it sends only ``GET`` requests. The count rate comes from the
difference of two ``tubePulseCount`` readings over the host's monotonic clock
(more precise than the instantaneous ``tubeRate``, as the protocol document
advises); ``tubeRate`` is used for the first reading after connecting and when
the firmware refuses ``tubePulseCount``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Literal

import structlog
from pydantic import Field, field_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, Status, utc_now
from ..counting import count_rate_reading
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..transport import USB_SERIAL_BRIDGES, ByteLink, Connector, SerialLink, SerialOptions, serial_connector
from ..units import DEAD_TIME_MAX_S
from . import codec
from .codec import CommandRefused

log = structlog.get_logger("radsurvey.meter")


def _finite_number(value: Any) -> float | None:
    """``value`` as a finite float (int, float or numeric text), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


class RadProOptions(SerialOptions):
    """Options of the ``radpro`` driver."""

    sensitivity_cpm_per_uSv_h: float | Literal["device", "none"] | None = Field(
        "device",
        description="cpm per uSv/h; 'device' reads tubeSensitivity from the meter; 'none': readings in cpm",
    )
    dead_time_s: float | Literal["device"] | None = Field(
        None,
        description="dead-time correction: seconds, 'device' (the meter's tubeDeadTimeCompensation setting), or none",
    )
    rate_source: Literal["pulse_count", "tube_rate"] = Field(
        "pulse_count", description="tubePulseCount deltas (precise) or the meter's tubeRate"
    )

    # Checked before pydantic's union matching, so that a bad value gets one message
    # that names what is allowed instead of one error per member of the union.
    @field_validator("sensitivity_cpm_per_uSv_h", mode="before")
    @classmethod
    def _sensitivity(cls, value: Any) -> Any:
        if value is None or value in ("device", "none"):
            return value
        number = _finite_number(value)
        if number is None or number <= 0:
            raise ValueError(f"must be a number of cpm per uSv/h above 0, 'device' or 'none', not {value!r}")
        return number

    @field_validator("dead_time_s", mode="before")
    @classmethod
    def _dead_time(cls, value: Any) -> Any:
        if value is None or value == "device":
            return value
        number = _finite_number(value)
        if number is None or not 0 <= number <= DEAD_TIME_MAX_S:
            raise ValueError(f"must be seconds from 0 to {DEAD_TIME_MAX_S:g}, or 'device', not {value!r}")
        return number


_DEVICE_ID_TRIES = 3
# Rad Pro floors its compensation's denominator (1 - m*tau) at 0.1, so its correction
# never exceeds x10: at n*tau >= 9 (n the compensated rate, per second) the cap is reached,
# the true rate is unknown, and the inverse m = n/(1 + n*tau) no longer holds.
RADPRO_MAX_COMPENSATION = 10.0


class RadProDriver(Driver):
    name = "radpro"
    capabilities = frozenset({Capability.COUNT_RATE, Capability.DOSE_RATE, Capability.BATTERY, Capability.CLOCK})
    frozen_after_s_default = 300.0

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: RadProOptions, connector: Connector):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.connector = connector
        self.link: ByteLink | None = None
        self.sensitivity: float | None = None
        self.sensitivity_source = "config"
        self.dead_time_s: float | None = None
        self.dead_time_source = "config"
        self._last: tuple[int, float] | None = None  # (pulse count, loop time)
        self._pulse_count_refused = False
        self.meter_compensation_s = 0.0  # the meter's own dead-time compensation (0: off)

    async def open(self) -> None:
        o = self.options
        self.link = self.connector.link(meter=self.meter_id)
        await self.link.open(o.timeout_s * 5)
        await self.link.drain_quiet(quiet_s=0.1, max_s=1.0)  # leftovers of an earlier session

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            await link.close()

    async def get(self, name: str) -> tuple[str, bytes]:
        """``GET name`` -> (payload, raw line). CommandRefused on ERROR."""
        link = self.link
        if link is None:
            raise MeterGone("not open", meter=self.meter_id)
        link.discard_input()
        await link.write(codec.request("GET", name))
        line = await link.read_until(b"\n", self.options.timeout_s, max_bytes=codec.MAX_LINE_BYTES)
        try:
            return codec.parse_reply(line), line
        except FrameError as err:
            raise type(err)(err.message, raw=err.raw, meter=self.meter_id) from None

    async def _optional(self, *names: str) -> tuple[str, str] | None:
        """The first of ``names`` this firmware answers, as (name, payload)."""
        for name in names:
            try:
                payload, _ = await self.get(name)
                return name, payload
            except CommandRefused:
                continue
        return None

    async def _device_id(self) -> str:
        """``GET deviceId``, resynchronising after a spoilt first reply.

        A NUL or the tail of an earlier datalog transfer may precede the first reply after
        the port opens: drain until the line is quiet and ask again, as the GMC driver does.
        """
        for attempt in range(_DEVICE_ID_TRIES):
            try:
                payload, _ = await self.get("deviceId")
                return payload
            except FrameError as err:
                if attempt + 1 == _DEVICE_ID_TRIES:
                    raise
                link = self.link
                stale = await link.drain_quiet(quiet_s=0.1, max_s=1.0) if link is not None else b""
                log.info(
                    "stale bytes before the first reply", meter=self.meter_id, error=err.message, drained=len(stale)
                )
        raise AssertionError("unreachable")

    async def identify(self) -> MeterIdentity:
        try:
            payload = await self._device_id()
        except MeterTimeout:
            raise MeterTimeout(
                f"no answer to 'GET deviceId' within {self.options.timeout_s:g} s: is the meter's data mode on? "
                "(on the meter: Settings > Power > Data mode; the setting is saved)",
                meter=self.meter_id,
            ) from None
        hardware, software, device_id = codec.parse_device_id(payload)
        extra: dict[str, str] = {}
        o = self.options
        if o.sensitivity_cpm_per_uSv_h == "device":
            # 'tubeConversionFactor' is the name before firmware 2.1.1.
            got = await self._optional("tubeSensitivity", "tubeConversionFactor")
            if got is None:
                extra["sensitivity_note"] = "the meter did not report a sensitivity: readings in cpm"
            elif (value := codec.parse_decimal(got[1], got[0])) > 0:
                self.sensitivity = value
                self.sensitivity_source = f"meter's {got[0]}"
                extra["sensitivity_cpm_per_uSv_h"] = got[1]
            else:
                # A sensitivity of zero or below cannot convert anything: say so and
                # keep the counts, rather than fail every reading.
                note = f"the meter reported {got[0]} {got[1]}, which is not above 0: readings in cpm"
                extra["sensitivity_note"] = note
                log.warning("meter reported an unusable sensitivity", meter=self.meter_id, note=note)
        elif o.sensitivity_cpm_per_uSv_h not in (None, "none"):
            self.sensitivity = float(o.sensitivity_cpm_per_uSv_h)
        await self._dead_time_basis(extra)
        for name in ("tubeType", "deviceBatteryVoltage"):
            got = await self._optional(name)
            if got is not None:
                extra[name] = got[1]
        got = await self._optional("deviceTime")
        if got is not None:
            try:
                offset = codec.parse_decimal(got[1], "deviceTime") - utc_now().timestamp()
                extra["clock_offset_s"] = f"{offset:.0f}"
            except FrameError:
                pass
        return MeterIdentity(model=hardware, firmware=software, serial=device_id, extra=extra)

    async def _dead_time_basis(self, extra: dict[str, str]) -> None:
        """Decide the one dead-time basis of every reading of this connection, and record it.

        Raw pulse counts are never compensated; ``tubeRate`` is, when the meter's
        compensation is on (docs/comm.md: ``tubeDeadTimeCompensation`` > 0). Every
        reading is brought to the same basis: corrected with ``self.dead_time_s``
        (None: uncorrected counts).
        """
        o = self.options
        got = await self._optional("tubeDeadTimeCompensation")
        self.meter_compensation_s = 0.0
        if got is None:
            extra["tubeDeadTimeCompensation"] = "not reported (firmware without it): taken as off"
        else:
            extra["tubeDeadTimeCompensation"] = got[1]
            try:
                value = codec.parse_decimal(got[1], "tubeDeadTimeCompensation")
            except FrameError:
                value = 0.0
                extra["dead_time_note"] = f"tubeDeadTimeCompensation {got[1]!r} is not a number: taken as off"
            if 0 < value <= DEAD_TIME_MAX_S:
                self.meter_compensation_s = value
            elif value != 0:
                extra["dead_time_note"] = (
                    f"the meter reported tubeDeadTimeCompensation {got[1]}, not a dead time "
                    f"(above 0, at most {DEAD_TIME_MAX_S:g} s): taken as off, no correction"
                )
        if o.dead_time_s == "device":
            # tubeDeadTime is only an upper bound (the shortest gap the meter saw), by the
            # firmware's own docs; the compensation the user configured is the value to use.
            bound = await self._optional("tubeDeadTime")
            if bound is not None:
                extra["tubeDeadTime_upper_bound_s"] = bound[1]
            if self.meter_compensation_s > 0:
                self.dead_time_s = self.meter_compensation_s
                self.dead_time_source = "meter's tubeDeadTimeCompensation"
            else:
                note = "the meter's dead-time compensation is off (tubeDeadTimeCompensation 0): no correction"
                extra.setdefault("dead_time_note", note)
                log.warning("dead_time_s = 'device' but the meter does not compensate", meter=self.meter_id)
        elif o.dead_time_s:
            self.dead_time_s = float(o.dead_time_s)
        if self.dead_time_s:
            extra["dead_time_basis"] = f"corrected, tau = {self.dead_time_s:g} s ({self.dead_time_source})"
        else:
            extra["dead_time_basis"] = "uncorrected counts"

    def _tube_rate_reading(self, cpm: float, raw: bytes, steps: list[Conversion]) -> Reading:
        """A tubeRate reading on this connection's basis (see _dead_time_basis)."""
        comp = self.meter_compensation_s
        if comp > 0 and cpm / 60.0 * comp >= RADPRO_MAX_COMPENSATION - 1:
            # The meter's x10 cap is reached: its tubeRate is 10 x the counted rate, a lower
            # bound of the true rate. Over range, on the raw basis (exact under the cap).
            steps.append(
                Conversion(
                    "dead_time_cap",
                    factor=1 / RADPRO_MAX_COMPENSATION,
                    detail=f"the meter's compensation (tau = {comp:g} s) hit its x10 cap: counted rate = tubeRate/10;"
                    " the true rate is above what the tube can tell",
                )
            )
            return self._reading(cpm / RADPRO_MAX_COMPENSATION, raw, tuple(steps), use_dead_time=False, over_range=True)
        if comp > 0 and self.dead_time_s == comp:
            steps.append(
                Conversion("dead_time", factor=1.0, detail=f"compensated by the meter (tau = {comp:g} s), same basis")
            )
            return self._reading(cpm, raw, tuple(steps), use_dead_time=False)
        if comp > 0:
            # Back to raw counts: the meter compensates non-paralysably, n = m/(1 - m*tau),
            # so m = n/(1 + n*tau) (rates per second).
            raw_cpm = cpm / (1.0 + cpm / 60.0 * comp)
            steps.append(
                Conversion(
                    "dead_time_undone",
                    factor=raw_cpm / cpm if cpm else 1.0,
                    detail=f"the meter's own compensation (tau = {comp:g} s) removed, m = n/(1 + n*tau)",
                )
            )
            cpm = raw_cpm
        return self._reading(cpm, raw, tuple(steps))

    async def read(self) -> Reading:
        loop = asyncio.get_running_loop()
        if self.options.rate_source == "pulse_count" and not self._pulse_count_refused:
            try:
                payload, raw = await self.get("tubePulseCount")
            except CommandRefused:
                self._pulse_count_refused = True
            else:
                now = loop.time()
                count = codec.parse_pulse_count(payload)
                last, self._last = self._last, (count, now)
                if last is not None and now > last[1]:
                    dt = now - last[1]
                    pulses = codec.pulses_between(last[0], count, dt)
                    if pulses is not None:
                        step = Conversion(
                            "pulse_count_delta",
                            factor=60.0 / dt,
                            detail=f"{pulses} pulses in {dt:.3f} s (count {last[0]} -> {count}, wraps at 2^32)",
                        )
                        return self._reading(pulses * 60.0 / dt, raw, (step,))
                    restart = Conversion(
                        "counter_restart",
                        detail=f"tubePulseCount went back from {last[0]} to {count} (reset or set on the meter): "
                        "counting restarts; this reading is the meter's tubeRate",
                    )
                    log.warning("pulse counter went backwards", meter=self.meter_id, before=last[0], now=count)
                    return await self._rate_reading([restart])
        return await self._rate_reading([])

    async def _rate_reading(self, steps: list[Conversion]) -> Reading:
        payload, raw = await self.get("tubeRate")
        cpm = codec.parse_decimal(payload, "tubeRate")
        if cpm < 0:
            raise FrameError(f"tubeRate {payload!r} is negative", raw=raw, meter=self.meter_id)
        steps.append(Conversion("tube_rate", detail="the meter's instantaneous tubeRate"))
        return self._tube_rate_reading(cpm, raw, steps)

    def _reading(
        self,
        cpm: float,
        raw: bytes,
        steps: tuple[Conversion, ...],
        use_dead_time: bool = True,
        over_range: bool = False,
    ) -> Reading:
        return count_rate_reading(
            status=frozenset({Status.OVER_RANGE}) if over_range else frozenset(),
            meter=self.meter_id,
            ts=utc_now(),
            cpm=cpm,
            raw=raw,
            sensitivity_cpm_per_uSv_h=self.sensitivity,
            dead_time_s=self.dead_time_s if use_dead_time else None,
            steps=steps,
            sensitivity_source=self.sensitivity_source,
            dead_time_source=self.dead_time_source,
        )


async def probe(port: str, baudrate: int = codec.BAUDRATE, timeout_s: float = 0.5) -> MeterIdentity | None:
    """Send only ``GET deviceId``; the identity if a Rad Pro answered."""
    link = SerialLink(port=port, baudrate=baudrate, meter=port)
    await link.open(timeout_s * 4)
    try:
        # Another family's probe may have left bytes without a line end in the meter's
        # input (GMC's "<GETVER>>"): end that line first and drop its ERROR, or our
        # request is read as part of it.
        link.discard_input()
        await link.write(b"\r\n")
        await asyncio.sleep(min(0.1, timeout_s))
        link.discard_input()
        await link.write(codec.request("GET", "deviceId"))
        line = await link.read_until(b"\n", timeout_s, max_bytes=codec.MAX_LINE_BYTES)
        hardware, software, device_id = codec.parse_device_id(codec.parse_reply(line))
        return MeterIdentity(model=hardware, firmware=software, serial=device_id, extra={"baudrate": str(baudrate)})
    except (MeterTimeout, FrameError):
        return None
    finally:
        await link.close()


SPEC = DriverSpec(
    name="radpro",
    summary="Geiger counters with the Rad Pro firmware (FS2011, FS-600/1000, GC-01, ...) over USB serial",
    options_model=RadProOptions,
    factory=RadProDriver,
    emulator="radsurvey.drivers.radpro.emulator:RadProDevice",
    # STM32 virtual COM port (GC-01/GC-03 only); FS2011, FS-600/1000, FS-5000 and the GMC-800
    # talk through USB-serial bridges, so every bridge port is a candidate.
    usb_ids=("0483:5740", *USB_SERIAL_BRIDGES),
    baudrates=(codec.BAUDRATE,),
    probe=probe,
    line_probe=True,
    connector=serial_connector,
)
