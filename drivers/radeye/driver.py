"""The ``radeye`` driver: Thermo RadEye PRD, PRD-ER, GN+ and G-series through the IR-USB adapter.

Read-only: it sends the wake-up byte ``@``, ``#R`` (serial number), ``Vx`` (version and
type), ``X1`` to start the once-a-second record stream and ``X0`` to stop it at close.
It never writes a setting (units, alarms, clock) or clears the dose.
"""

from __future__ import annotations

from typing import Literal

import structlog
from pydantic import Field, field_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, Status, utc_now
from ..counting import value_reading
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..transport import ByteLink, Connector, SerialOptions, serial_connector
from . import codec

log = structlog.get_logger("radsurvey.meter")

_WAKE_TRIES = 3


class RadEyeOptions(SerialOptions):
    """Options of the ``radeye`` driver (the line is 7E2; only the speed can be changed)."""

    baudrate: int = Field(codec.BAUDRATE, description="line speed, 7E2 (the RadEye's is 9600)")
    timeout_s: float = Field(3.0, gt=0, le=60, description="reply timeout; records come once a second")
    value: Literal["auto", "value1", "value2"] = Field(
        "auto", description="which record field: auto = the first dose rate, else the first count rate"
    )

    @field_validator("baudrate")
    @classmethod
    def _standard_baud(cls, value: int) -> int:
        return SerialOptions._standard_baud(value)


def connector(options: RadEyeOptions) -> Connector:
    return serial_connector(options, bytesize=7, parity="E", stopbits=2)


class RadEyeDriver(Driver):
    name = "radeye"
    capabilities = frozenset({Capability.DOSE_RATE, Capability.COUNT_RATE, Capability.STREAMING})
    self_paced = True  # the meter sends a record every second by itself

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: RadEyeOptions, connector: Connector):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.connector = connector
        self.link: ByteLink | None = None
        self._unit: str | None = None
        self._first: codec.Record | None = None  # the record identify() read, handed out by the next read()

    def _link(self) -> ByteLink:
        if self.link is None:
            raise MeterGone("not open", meter=self.meter_id)
        return self.link

    async def open(self) -> None:
        self._unit = None
        self._first = None
        self.link = self.connector.link(meter=self.meter_id)
        await self.link.open(self.options.timeout_s * 2)

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is None:
            return
        if link.is_open:
            try:  # leave the meter quiet (its battery), as it was before we started it
                await link.write(codec.WAKE)
                await link.write(codec.command("X0"))
            except Exception:  # the adapter may already be gone; closing must not fail
                pass
        await link.close()

    async def _wake(self) -> None:
        link = self._link()
        for _ in range(_WAKE_TRIES):
            link.discard_input()
            await link.write(codec.WAKE)
            try:
                got = await link.read_quiet(timeout_s=min(self.options.timeout_s, 1.0), gap_s=0.05, max_bytes=256)
            except MeterTimeout:
                continue
            if codec.READY in got:
                return
        raise MeterTimeout(
            f"no '>' after {_WAKE_TRIES} wake-ups: is the meter on and its IR window facing the adapter?",
            meter=self.meter_id,
        )

    async def ask(self, text: str) -> str:
        """Wake the meter, send one command and return its reply line's text."""
        await self._wake()
        link = self._link()
        link.discard_input()
        await link.write(codec.command(text))
        line = await link.read_until(b"\n", self.options.timeout_s, max_bytes=codec.MAX_RECORD_BYTES)
        try:
            return codec.reply_text(line)
        except FrameError as err:
            raise FrameError(f"{text}: {err.message}", raw=err.raw, meter=self.meter_id) from None

    async def identify(self) -> MeterIdentity:
        # A stream left running (by us before a crash) would answer our questions with
        # records: stop it and let the line go quiet first.
        await self._wake()
        await self._link().write(codec.command("X0"))
        await self._link().drain_quiet(quiet_s=0.3, max_s=2.5)
        serial = await self.ask("#R")
        version = (await self.ask("Vx")).split()
        firmware = version[0] if version else ""
        model = f"RadEye {version[1]}" if len(version) > 1 else "RadEye"
        await self._wake()
        link = self._link()
        await link.write(codec.command("X1"))
        first = await self._record()  # the stream must deliver before the meter counts as connected
        if model == "RadEye":
            model = f"RadEye {first.model}"
        self._first = first
        return MeterIdentity(model=model, firmware=firmware, serial=serial, extra={"record_model": first.model})

    async def _record(self) -> codec.Record:
        link = self._link()
        for _ in range(4):  # echoes and prompts may precede the first record
            frame = await link.read_until(b"\n", self.options.timeout_s, max_bytes=codec.MAX_RECORD_BYTES)
            if codec.SWITCHED_OFF in frame:
                raise MeterGone("the RadEye was switched off (@CIAO)", meter=self.meter_id)
            if codec.STX not in frame:
                if all(0x20 <= b < 0x7F or b in (0x0D, 0x0A) for b in frame):
                    continue  # a prompt or an answer line, not a record
                raise FrameError("a line that is neither a record nor text", raw=frame[:64], meter=self.meter_id)
            frame = frame[frame.index(codec.STX) :]
            try:
                return codec.parse_record(frame)
            except FrameError as err:
                raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None
        raise FrameError("no record among four lines", meter=self.meter_id)

    async def read(self) -> Reading:
        record, self._first = self._first, None
        if record is None:
            record = await self._record()
        return self._reading(record)

    def _reading(self, record: codec.Record) -> Reading:
        o = self.options
        field = record.field() if o.value == "auto" else (record.first if o.value == "value1" else record.second)
        if field.code not in codec.RATE_CODES:
            raise FrameError(f"record {o.value} is in {codec.UNITS[field.code][2]}, not a rate", raw=record.raw)
        unit_name = codec.UNITS[field.code][2]
        if self._unit is not None and self._unit != unit_name:
            log.info("radeye unit changed", meter=self.meter_id, was=self._unit, now=unit_name)
        self._unit = unit_name
        status: set[Status] = set()
        if record.flags & codec.FLAG_OVERLOAD:
            status.add(Status.OVER_RANGE)
        if record.flags & codec.FLAG_LOW_BATTERY:
            status.add(Status.LOW_BATTERY)
        alarm = ", meter alarm on" if record.flags & codec.FLAG_ALARM else ""
        step = Conversion(
            "radeye_record",
            factor=float(codec.UNITS[field.code][1]),
            detail=f"{field.count} x {codec.UNITS[field.code][1]} {field.unit} (unit code {field.code},"
            f" {unit_name}); flags 0x{record.flags:02x}{alarm}",
        )
        return value_reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=float(field.value),
            unit=field.unit,
            raw=record.raw,
            meter_value=float(field.count),
            steps=(step,),
            status=frozenset(status),
        )


SPEC = DriverSpec(
    name="radeye",
    summary="Thermo RadEye PRD/PRD-ER/GN+/G-series through the IR-USB adapter (9600 7E2), read-only",
    options_model=RadEyeOptions,
    factory=RadEyeDriver,
    emulator="radsurvey.drivers.radeye.emulator:RadEyeDevice",
    connector=connector,
)
