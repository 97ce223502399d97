"""The ``scpi`` driver: instruments behind VISA (serial ASRL, USBTMC, TCPIP) with pyvisa.

Typical uses: an electrometer reading an ion chamber's current, turned into a
dose rate by the chamber's calibration factor (``scale`` and ``scaled_unit``);
a survey meter with a SCPI interface. Read-only: it sends only the identify
query and the measurement query you configure.

pyvisa is blocking, so every call runs in this instrument's own worker thread
(one per driver), with pyvisa's timeout and an asyncio backstop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Quantity, Reading, Status, utc_now
from ..counting import value_reading
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..units import check_unit, split_si
from . import codec

T = TypeVar("T")


class ScpiOptions(BaseModel):
    """Options of the ``scpi`` driver."""

    model_config = ConfigDict(extra="forbid")

    resource: str = Field(description="VISA resource, e.g. 'ASRL/dev/ttyUSB0::INSTR', 'TCPIP::10.0.0.5::INSTR'")
    visa_library: str = Field("@py", description="pyvisa backend: '@py' (pyvisa-py), or 'file.yaml@sim' for tests")
    identify_query: str | None = Field("*IDN?", description="'' : do not ask (instruments without *IDN?)")
    measure_query: str = Field("READ?", description="query that returns one measurement")
    response_pattern: str = Field(codec.DEFAULT_PATTERN, description="regex with named group 'value'")
    unit: str = Field("A", description="unit of the instrument's number: A, nA, pA, uSv/h, mR/h, cpm, ...")
    scale: float = Field(
        1.0,
        allow_inf_nan=False,
        description="multiplies the number (after SI prefixes), e.g. a chamber calibration factor",
    )
    scaled_unit: str | None = Field(None, description="unit after scale, e.g. 'uGy/h' for a factor in uGy/h per A")
    status_map: dict[str, str] = Field(
        default_factory=dict,
        description="the pattern's 'status' group -> over_range|under_range|fault|... (e.g. Keithley's status letter)",
    )
    baudrate: int | None = Field(None, description="ASRL resources: line speed")
    read_termination: str = "\n"
    write_termination: str = "\n"
    timeout_s: float = Field(2.0, gt=0, le=600)

    @field_validator("unit", "scaled_unit")
    @classmethod
    def _known_unit(cls, value: str | None) -> str | None:
        return value if value is None else check_unit(value, currents=True)

    @field_validator("scale")
    @classmethod
    def _nonzero_scale(cls, value: float) -> float:
        if value == 0:
            raise ValueError("must not be 0 (every reading would be 0)")
        return value

    @field_validator("status_map")
    @classmethod
    def _known_flags(cls, value: dict[str, str]) -> dict[str, str]:
        known = {s.value for s in Status}
        for word, flag in value.items():
            if flag not in known:
                raise ValueError(f"[{word!r}] = {flag!r}: must be one of {', '.join(sorted(known))}")
        return value

    @model_validator(mode="after")
    def _check(self) -> ScpiOptions:
        codec.compile_pattern(self.response_pattern)
        if self.scaled_unit is None and self.scale != 1.0:
            raise ValueError("scale changes the unit: give scaled_unit (e.g. 'uGy/h')")
        return self


def _is_current(unit: str) -> bool:
    try:
        split_si(unit, "A")
    except ValueError:
        return False
    return True


class _Unterminated(Exception):
    pass


class ScpiDriver(Driver):
    name = "scpi"
    capabilities = frozenset({Capability.DOSE_RATE})

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: ScpiOptions):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.pattern = codec.compile_pattern(options.response_pattern)
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._rm: Any = None
        self._inst: Any = None

    async def _call(self, fn: Callable[[], T]) -> T:
        """Run a blocking pyvisa call in this instrument's worker thread."""
        if self._executor is None:
            raise MeterGone("not open", meter=self.meter_id)
        import pyvisa

        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.options.timeout_s + 5):
                return await loop.run_in_executor(self._executor, fn)
        except TimeoutError:
            raise MeterTimeout(f"VISA call took over {self.options.timeout_s + 5:g} s", meter=self.meter_id) from None
        except pyvisa.errors.VisaIOError as err:
            if err.error_code == pyvisa.constants.StatusCode.error_timeout:
                raise MeterTimeout(f"no reply within {self.options.timeout_s:g} s", meter=self.meter_id) from None
            raise MeterGone(f"{self.options.resource}: {err.description}", meter=self.meter_id) from None
        except (OSError, pyvisa.errors.Error, ValueError) as err:
            raise MeterGone(f"{self.options.resource}: {err}", meter=self.meter_id) from None

    async def open(self) -> None:
        o = self.options
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"visa-{self.meter_id}"
        )

        def _open() -> None:
            import pyvisa

            self._rm = pyvisa.ResourceManager(o.visa_library)
            kwargs: dict[str, Any] = {
                "read_termination": o.read_termination,
                "write_termination": o.write_termination,
                "timeout": int(o.timeout_s * 1000),
            }
            if o.baudrate is not None and o.resource.upper().startswith("ASRL"):
                kwargs["baud_rate"] = o.baudrate
            self._inst = self._rm.open_resource(o.resource, **kwargs)

        try:
            await self._call(_open)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        inst, rm = self._inst, self._rm
        self._inst = self._rm = None

        def _close() -> None:
            for thing in (inst, rm):
                if thing is not None:
                    try:
                        thing.close()
                    except Exception:  # closing a vanished instrument must not fail
                        pass

        await asyncio.get_running_loop().run_in_executor(executor, _close)
        executor.shutdown(wait=False)

    async def _query(self, text: str) -> str:
        inst = self._inst
        if inst is None:
            raise MeterGone("not open", meter=self.meter_id)

        def _query() -> str:
            import warnings

            # pyvisa only warns about a reply cut short; for us it is a garbled frame.
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                try:
                    return str(inst.query(text))
                except UserWarning as warning:
                    raise _Unterminated(str(warning)) from None

        try:
            return await self._call(_query)
        except _Unterminated as err:
            raise FrameError(f"{text}: {err}", meter=self.meter_id) from None

    async def identify(self) -> MeterIdentity:
        o = self.options
        if not o.identify_query:
            return MeterIdentity(model="SCPI instrument", extra={"resource": o.resource})
        reply = await self._query(o.identify_query)
        maker, model, serial, firmware = codec.parse_idn(reply)
        return MeterIdentity(model=f"{maker} {model}", firmware=firmware, serial=serial, extra={"resource": o.resource})

    async def read(self) -> Reading:
        o = self.options
        reply = await self._query(o.measure_query)
        raw = reply.encode("utf-8", "replace")
        try:
            number, sentinel, fields = codec.parse_measurement_fields(reply, self.pattern)
        except FrameError as err:
            raise FrameError(err.message, raw=raw, meter=self.meter_id) from None
        status: frozenset[Status] = frozenset({Status.OVER_RANGE}) if sentinel == "overload" else frozenset()
        if sentinel == "not a number":
            status = frozenset({Status.FAULT})
        word = fields.get("status")
        if word is not None and word in o.status_map:
            status = status | {Status(o.status_map[word])}
        steps: list[Conversion] = []
        value = number
        unit = o.unit
        if _is_current(unit):
            factor = split_si(unit, "A")
            if factor != 1.0:
                value *= factor
                steps.append(Conversion("unit", factor=factor, detail=f"{unit} -> A"))
            unit = "A"
        if o.scaled_unit is not None:
            value *= o.scale
            steps.append(Conversion("calibration", factor=o.scale, detail=f"{unit} -> {o.scaled_unit}"))
            unit = o.scaled_unit
        if _is_current(unit):
            return Reading(
                meter=self.meter_id,
                ts=utc_now(),
                value=value * split_si(unit, "A"),
                unit="A",
                quantity=Quantity.CURRENT,
                status=status,
                raw=raw,
                conversions=tuple(steps),
                meter_value=number,
            )
        return value_reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=value,
            unit=unit,
            raw=raw,
            meter_value=number,
            steps=tuple(steps),
            status=status,
        )


SPEC = DriverSpec(
    name="scpi",
    summary="instruments behind VISA (ASRL, USBTMC, TCPIP) with configured SCPI queries: electrometers, survey meters",
    options_model=ScpiOptions,
    factory=ScpiDriver,
    emulator="radsurvey.drivers.scpi.emulator:ScpiDevice",
)
