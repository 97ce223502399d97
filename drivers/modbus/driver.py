"""The ``modbus`` driver: fixed detection units and area monitors over Modbus RTU or TCP.

Read-only unless the config names a start sequence: it uses only the read functions
(03 holding registers, 04 input registers). With ``init = "bdkg"`` (and only then) it
sends the Atomtex BDKG start sequence at connect (:data:`codec.BDKG_START`), the writes
a BDKG detection unit needs before it answers FC04 reads; nothing else is ever written.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from radsurvey.protocols.errors import FrameError

from ..base import Capability, Conversion, Driver, MeterIdentity, Reading, Status, utc_now
from ..counting import value_reading
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..transport import SerialOptions, UsbOption, resolve_port
from ..units import check_unit
from . import codec
from .codec import DataType, Order


class ModbusOptions(BaseModel):
    """Options of the ``modbus`` driver. Give ``host`` (TCP) or ``port``/``usb`` (RTU)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, description="Modbus TCP server")
    tcp_port: int = Field(502, ge=1, le=65535)
    port: str | None = Field(None, description="RTU: serial device path (RS-485 adapter)")
    usb: UsbOption = Field(None, description="RTU: 'VID:PID[:serial]' of the adapter")
    baudrate: int = Field(9600, description="RTU line speed")
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    unit_id: int = Field(1, ge=0, le=247, description="device (slave) address")
    preset: Literal["bdkg"] | None = Field(
        None, description="a known register map: bdkg = Atomtex BDKG detection unit (dose rate, FC04 at 8, f32 Sv/h)"
    )
    init: Literal["bdkg"] | None = Field(
        None, description="opt-in start sequence sent at connect (writes!): bdkg = FC07, FC06 mode, FC05 start+latch"
    )
    register_type: Literal["holding", "input"] = "holding"
    address: int | None = Field(
        None, ge=0, le=65535, description="first register of the value (0-based, as on the wire); set by a preset"
    )
    data_type: DataType = "u16"
    word_order: Order = Field("big", description="32-bit values: 'big' = high word first")
    byte_order: Order = Field("big", description="bytes inside a register")
    scale: float = Field(1.0, allow_inf_nan=False, description="value = register x scale + offset")
    offset: float = Field(0.0, allow_inf_nan=False)
    unit: str = Field("uSv/h", description="unit of value: uSv/h, uGy/h, nSv/h, mR/h, cpm, cps, ...")
    status_address: int | None = Field(None, ge=0, le=65535, description="a 16-bit status register")
    status_register_type: Literal["holding", "input"] = "holding"
    status_bits: dict[int, str] = Field(default_factory=dict, description="bit -> over_range|fault|low_battery|...")
    sensitivity_cpm_per_uSv_h: float | None = Field(None, gt=0, allow_inf_nan=False)
    timeout_s: float = Field(1.0, gt=0, le=60)

    @field_validator("baudrate")
    @classmethod
    def _baud(cls, value: int) -> int:
        return SerialOptions._standard_baud(value)

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, value: str) -> str:
        return check_unit(value)

    @field_validator("scale")
    @classmethod
    def _nonzero_scale(cls, value: float) -> float:
        if value == 0:
            raise ValueError("must not be 0 (every reading would be the offset)")
        return value

    @field_validator("status_bits")
    @classmethod
    def _bits(cls, value: dict[int, str]) -> dict[int, str]:
        known = {s.value for s in Status}
        for bit, flag in value.items():
            if not 0 <= bit <= 15:
                raise ValueError(f"status bit {bit} is not 0..15")
            if flag not in known:
                raise ValueError(f"status_bits[{bit}] = {flag!r}: must be one of {', '.join(sorted(known))}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        # A preset fills what the config leaves out; what it names wins.
        if isinstance(data, dict) and data.get("preset") in codec.PRESETS:
            return {**codec.PRESETS[data["preset"]], **data}
        return data

    @model_validator(mode="after")
    def _one_transport(self) -> ModbusOptions:
        if self.address is None:
            raise ValueError("give address (the value's first register) or a preset (e.g. preset = 'bdkg')")
        given = [k for k in ("host", "port", "usb") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of host (Modbus TCP), port or usb (Modbus RTU)")
        if self.status_bits and self.status_address is None:
            raise ValueError("status_bits needs status_address")
        return self

    @property
    def transport(self) -> str:
        return "tcp" if self.host is not None else "rtu"


class ModbusDriver(Driver):
    name = "modbus"
    capabilities = frozenset({Capability.DOSE_RATE, Capability.COUNT_RATE})

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: ModbusOptions):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.client: Any = None
        self._where = ""
        self._last_rx = b""

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._last_rx = bytes(data)
        return data

    async def open(self) -> None:
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        o = self.options
        common: dict[str, Any] = {
            "timeout": o.timeout_s,
            "retries": 0,
            "reconnect_delay": 0,
            "trace_packet": self._trace,
        }
        if o.host is not None:
            self._where = f"{o.host}:{o.tcp_port}"
            self.client = AsyncModbusTcpClient(o.host, port=o.tcp_port, **common)
        else:
            path = resolve_port(port=o.port, usb=o.usb)
            self._where = path
            self.client = AsyncModbusSerialClient(
                path, baudrate=o.baudrate, parity=o.parity, stopbits=o.stopbits, bytesize=8, **common
            )
        try:
            connected = await self.client.connect()
        except OSError as err:
            connected = False
            why = f": {err}"
        else:
            why = ""
        if not connected:
            self.client.close()
            self.client = None
            raise MeterGone(
                f"cannot connect to Modbus {self.options.transport.upper()} {self._where}{why}", meter=self.meter_id
            )
        if o.init == "bdkg":
            await self._bdkg_start()

    async def _call(self, what: str, call: Any) -> Any:
        """One request that is not a register read; errors as the runner counts them."""
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        try:
            response = await call
        except ConnectionException as err:
            raise MeterGone(f"Modbus {self._where}: {err}", meter=self.meter_id) from None
        except ModbusIOException as err:
            raise MeterTimeout(
                f"{what}: no Modbus reply within {self.options.timeout_s:g} s ({err})", meter=self.meter_id
            ) from None
        except ModbusException as err:
            raise FrameError(f"{what}: Modbus: {err}", raw=self._last_rx, meter=self.meter_id) from None
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            raise FrameError(f"{what}: unit answered {codec.exception_message(code)}", raw=self._last_rx)
        return response

    async def _bdkg_start(self) -> None:
        """The BDKG start sequence (opt-in: init = "bdkg"); see codec.BDKG_START for what and why."""
        import asyncio

        client, unit = self.client, self.options.unit_id
        loop = asyncio.get_running_loop()
        deadline = loop.time() + codec.BDKG_READY_S
        while True:  # a cold unit ignores writes until it answers FC07
            try:
                await self._call("FC07 read status", client.read_exception_status(device_id=unit))
                break
            except (MeterTimeout, FrameError):
                if loop.time() >= deadline:
                    raise MeterTimeout(
                        f"BDKG start: no FC07 answer within {codec.BDKG_READY_S:g} s", meter=self.meter_id
                    ) from None
                await asyncio.sleep(0.05)
        for step in codec.BDKG_START:
            if step.function == 6:
                call = client.write_register(step.address, step.value, device_id=unit)
            else:
                call = client.write_coil(step.address, bool(step.value), device_id=unit)
            await self._call(f"BDKG start, {step.why}", call)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()

    async def identify(self) -> MeterIdentity:
        # Modbus has no standard identity query that field devices answer; reading the
        # configured register once proves the unit id and address are right.
        o = self.options
        assert o.address is not None  # the options model requires it
        await self._registers(o.register_type, o.address, codec.REGISTER_COUNT[o.data_type])
        model = "Atomtex BDKG detection unit" if o.preset == "bdkg" else "Modbus"
        return MeterIdentity(
            model=f"{model} ({o.transport.upper()} unit {o.unit_id})",
            serial="",
            extra={"where": self._where, "register": f"{o.register_type}:{o.address}", "data_type": o.data_type},
        )

    async def _registers(self, kind: str, address: int, count: int) -> list[int]:
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

        client = self.client
        if client is None or not client.connected:
            raise MeterGone(f"Modbus {self._where} is not connected", meter=self.meter_id)
        call = client.read_holding_registers if kind == "holding" else client.read_input_registers
        self._last_rx = b""
        try:
            response = await call(address, count=count, device_id=self.options.unit_id)
        except ConnectionException as err:
            raise MeterGone(f"Modbus {self._where}: {err}", meter=self.meter_id) from None
        except ModbusIOException as err:
            if self.options.transport == "rtu" and not os.path.exists(self._where):  # noqa: ASYNC240 (a stat, no I/O wait)
                raise MeterGone(f"{self._where} vanished (unplugged?)", meter=self.meter_id) from None
            raise MeterTimeout(
                f"no Modbus reply within {self.options.timeout_s:g} s ({err})", meter=self.meter_id
            ) from None
        except ModbusException as err:
            raise FrameError(f"Modbus: {err}", raw=self._last_rx, meter=self.meter_id) from None
        if response.isError():
            code = int(getattr(response, "exception_code", 0) or 0)
            hint = ""
            if self.options.preset == "bdkg" and self.options.init is None:
                hint = ' (a BDKG answers FC04 only after its start sequence: init = "bdkg")'
            raise FrameError(
                f"unit {self.options.unit_id} answered {codec.exception_message(code)} for {kind} register"
                f" {address}{hint}",
                raw=self._last_rx,
                meter=self.meter_id,
            )
        registers = list(response.registers)
        if len(registers) != count:
            raise FrameError(f"asked {count} registers, got {len(registers)}", raw=self._last_rx, meter=self.meter_id)
        return registers

    async def read(self) -> Reading:
        o = self.options
        assert o.address is not None
        registers = await self._registers(o.register_type, o.address, codec.REGISTER_COUNT[o.data_type])
        raw = self._last_rx or b"".join(r.to_bytes(2, "big") for r in registers)
        try:
            number = codec.decode(registers, o.data_type, word_order=o.word_order, byte_order=o.byte_order)
        except FrameError as err:
            raise FrameError(err.message, raw=raw, meter=self.meter_id) from None
        status: frozenset[Status] = frozenset()
        if o.status_address is not None:
            [word] = await self._registers(o.status_register_type, o.status_address, 1)
            status = codec.status_flags(word, o.status_bits)
            raw += b"|" + (self._last_rx or word.to_bytes(2, "big"))
        steps: tuple[Conversion, ...] = ()
        value = number
        if o.scale != 1.0 or o.offset != 0.0:
            value = number * o.scale + o.offset
            steps = (
                Conversion(
                    "register_scale", factor=o.scale, detail=f"{o.data_type} {number:g} x {o.scale:g} + {o.offset:g}"
                ),
            )
        return value_reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=value,
            unit=o.unit,
            raw=raw,
            meter_value=number,
            steps=steps,
            status=status,
            sensitivity_cpm_per_uSv_h=o.sensitivity_cpm_per_uSv_h,
        )


SPEC = DriverSpec(
    name="modbus",
    summary="detection units and area monitors over Modbus RTU (RS-485) or Modbus TCP, read-only",
    options_model=ModbusOptions,
    factory=ModbusDriver,
    emulator="radsurvey.drivers.modbus.emulator:ModbusEmulator",
)
