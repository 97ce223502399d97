"""The ``radiacode`` driver: RadiaCode 101/102/103/110 over USB, Bluetooth LE, serial or TCP.

Read-only: it sends SET_EXCHANGE (the session start the meter expects), GET_VERSION,
and virtual-string reads of the serial number and of DATA_BUF
(:data:`codec.READ_ONLY_COMMANDS`). It never sets the clock or the device time (the
library's start-up does both) or anything else; readings are stamped with the host
clock. Every exchange has a timeout.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from radsurvey.protocols.errors import FrameError, MeterError

from ..base import Capability, Conversion, Driver, MeterIdentity, Quantity, Reading, Status, utc_now
from ..errors import MeterGone, MeterTimeout
from ..registry import DriverSpec
from ..transport import BleLink, ByteLink, Connector, PortOption, UsbBulkLink, UsbId, UsbOption, serial_connector
from . import codec

log = structlog.get_logger("radsurvey.meter")


class RadiaCodeOptions(BaseModel):
    """Options of the ``radiacode`` driver. Give one of ``usb``, ``bluetooth`` or ``port``."""

    model_config = ConfigDict(extra="forbid")

    usb: UsbOption = Field(
        None, description="'0483:f123' (the first RadiaCode) or '0483:f123:SERIAL' (that one, wherever plugged)"
    )
    bluetooth: str | None = Field(None, description="the meter's Bluetooth address (bluetoothctl devices)")
    port: PortOption = Field(None, description="tcp://HOST:PORT carrying the USB byte stream, or a serial path")
    baudrate: int = Field(115200, description="serial only")
    serial: str | None = Field(None, description="refuse a meter whose serial number is not this one")
    channel: Literal["dose_rate", "count_rate"] = Field(
        "dose_rate", description="dose_rate (uSv/h) or count_rate (cpm)"
    )
    timeout_s: float = Field(3.0, gt=0, le=60, description="reply timeout of one exchange")

    @model_validator(mode="after")
    def _one_transport(self) -> RadiaCodeOptions:
        given = [k for k in ("usb", "bluetooth", "port") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of usb ('0483:f123[:serial]'), bluetooth (address) or port")
        return self


class UsbConnector:
    """A RadiaCode on USB, found by id and serial at every connect (never by bus address)."""

    def __init__(self, usb: str):
        self.usb = UsbId.parse(usb)
        self.answered_at: int | None = None

    @property
    def where(self) -> str:
        return f"usb {self.usb}"

    def link(self, *, meter: str) -> ByteLink:
        return UsbBulkLink(
            usb=self.usb, meter=meter, out_endpoint=codec.USB_OUT_ENDPOINT, in_endpoint=codec.USB_IN_ENDPOINT
        )


class BleConnector:
    def __init__(self, address: str):
        self.address = address
        self.answered_at: int | None = None

    @property
    def where(self) -> str:
        return f"ble {self.address}"

    def link(self, *, meter: str) -> ByteLink:
        return BleLink(
            address=self.address, meter=meter, write_uuid=codec.BLE_WRITE_UUID, notify_uuid=codec.BLE_NOTIFY_UUID
        )


def connector(options: RadiaCodeOptions) -> Any:
    if options.usb is not None:
        return UsbConnector(options.usb)
    if options.bluetooth is not None:
        return BleConnector(options.bluetooth)
    return serial_connector(options)


_DRAIN_QUIET_S = 0.1  # at connect, stale reply bytes are drained until the line is this quiet
_POLL_S = 0.25  # between DATA_BUF reads while no real-time record has come


class RadiaCodeDriver(Driver):
    name = "radiacode"
    capabilities = frozenset({Capability.DOSE_RATE, Capability.COUNT_RATE})

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: RadiaCodeOptions, connector: Connector):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self.connector = connector
        self.link: ByteLink | None = None
        self._seq = 0
        self._next_record: int | None = None
        self._pending: deque[tuple[codec.RealTime, frozenset[Status]]] = deque()
        self.unknown_records = 0
        self.gaps = 0

    async def open(self) -> None:
        self._seq = 0
        self._next_record = None
        self._pending.clear()
        self.link = self.connector.link(meter=self.meter_id)
        await self.link.open(self.options.timeout_s * 3)
        # Replies to an earlier session's requests may still arrive: drain them first.
        await self.link.drain_quiet(quiet_s=_DRAIN_QUIET_S, max_s=1.0)

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            await link.close()

    async def exchange(self, command: int, args: bytes = b"") -> bytes:
        """Send one request and return its reply's payload. Only read-only commands pass."""
        if command not in codec.READ_ONLY_COMMANDS:
            raise AssertionError(f"command 0x{command:04x} is not read-only")
        link = self.link
        if link is None:
            raise MeterGone("not open", meter=self.meter_id)
        seq, self._seq = self._seq, (self._seq + 1) % 32
        link.discard_input()
        await link.write(codec.request(command, seq, args))
        timeout_s = self.options.timeout_s
        try:
            n = codec.frame_length(await link.read_exact(4, timeout_s))
            body = await link.read_exact(n, timeout_s)
            return codec.reply_payload(body, command, seq)
        except FrameError as err:
            raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None

    async def read_string(self, string_id: int) -> bytes:
        payload = await self.exchange(codec.RD_VIRT_STRING, string_id.to_bytes(4, "little"))
        try:
            return codec.virt_string(payload)
        except FrameError as err:
            raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None

    async def identify(self) -> MeterIdentity:
        await self.exchange(codec.SET_EXCHANGE, codec.SET_EXCHANGE_ARGS)
        try:
            version = codec.parse_version(await self.exchange(codec.GET_VERSION))
        except FrameError as err:
            raise FrameError(err.message, raw=err.raw, meter=self.meter_id) from None
        if version.target < codec.OLDEST_FIRMWARE:
            oldest = ".".join(map(str, codec.OLDEST_FIRMWARE))
            raise MeterError(
                f"RadiaCode firmware {version.firmware} is older than {oldest}, the oldest whose data buffer"
                " this driver reads: update it with the maker's app",
                meter=self.meter_id,
            )
        serial = (await self.read_string(codec.VS_SERIAL_NUMBER)).decode("ascii", "replace").strip("\x00 ")
        want = self.options.serial
        if want is not None and serial != want:
            raise MeterError(f"this RadiaCode is serial {serial!r}, not the configured {want!r}", meter=self.meter_id)
        # The model is the serial number's prefix (RC-102-001234 -> RadiaCode-102).
        parts = serial.split("-")
        model = f"RadiaCode-{parts[1]}" if len(parts) >= 2 and parts[0] == "RC" else "RadiaCode"
        return MeterIdentity(
            model=model,
            firmware=version.firmware,
            serial=serial,
            extra={"boot": ".".join(map(str, version.boot)), "firmware_date": version.target_date},
        )

    async def _fill(self) -> None:
        data = await self.read_string(codec.VS_DATA_BUF)
        buf = codec.decode_data_buf(data, self._next_record)
        if buf.last_seq is not None:
            self._next_record = (buf.last_seq + 1) % 256
        for expected, got in buf.gaps:
            self.gaps += 1
            log.warning("radiacode record gap", meter=self.meter_id, expected_seq=expected, seq=got)
        if buf.unknown:
            self.unknown_records += len(buf.unknown)
            # No size is known for the kind, so the rest of this buffer is lost; the next read goes on.
            self._next_record = None
            log.info(
                "radiacode record kind skipped",
                meter=self.meter_id,
                kind=f"{buf.unknown[0][0]}/{buf.unknown[0][1]}",
                skipped_so_far=self.unknown_records,
            )
        if buf.truncated:
            self._next_record = None
            log.warning("radiacode data buffer cut short", meter=self.meter_id)
        status: set[Status] = set()
        for event in buf.events:
            if event.event in codec.EVENT_LOW_BATTERY:
                status.add(Status.LOW_BATTERY)
            if event.event == codec.EVENT_DOSE_RATE_OFFSCALE:
                status.add(Status.OVER_RANGE)
        for rt in buf.real_time:
            self._pending.append((rt, frozenset(status)))

    async def read(self) -> Reading:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.timeout_s
        while not self._pending:
            await self._fill()
            if self._pending:
                break
            if loop.time() >= deadline:
                raise MeterTimeout(
                    f"no real-time record in the data buffer within {self.options.timeout_s:g} s", meter=self.meter_id
                )
            await asyncio.sleep(_POLL_S)
        rt, status = self._pending.popleft()
        return self._reading(rt, status)

    def _reading(self, rt: codec.RealTime, status: frozenset[Status]) -> Reading:
        meter_flags = f"meter flags 0x{rt.flags:04x}, real-time flags 0x{rt.real_time_flags:02x}"
        if self.options.channel == "count_rate":
            return Reading(
                meter=self.meter_id,
                ts=utc_now(),
                value=rt.count_rate_cps * 60.0,
                unit="cpm",
                quantity=Quantity.COUNT_RATE,
                status=status,
                raw=rt.raw,
                conversions=(Conversion("cps_to_cpm", factor=60.0, detail=f"count rate in cps; {meter_flags}"),),
                meter_value=rt.count_rate_cps,
            )
        return Reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=rt.dose_rate * codec.USV_H_PER_UNIT,
            unit="uSv/h",
            quantity=Quantity.AMBIENT_DOSE_EQUIVALENT_RATE,
            status=status,
            raw=rt.raw,
            conversions=(
                Conversion(
                    "radiacode_dose_rate",
                    factor=float(codec.USV_H_PER_UNIT),
                    detail=f"device unit x 10000 = uSv/h, as the maker's software and the radiacode library;"
                    f" {rt.count_rate_cps:g} cps; {meter_flags}",
                ),
            ),
            meter_value=rt.dose_rate,
        )


SPEC = DriverSpec(
    name="radiacode",
    summary="RadiaCode 101/102/103/110 over USB, Bluetooth LE, or its USB byte stream over TCP, read-only",
    options_model=RadiaCodeOptions,
    factory=RadiaCodeDriver,
    emulator="radsurvey.drivers.radiacode.emulator:RadiaCodeDevice",
    connector=connector,
)
