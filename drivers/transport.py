"""Serial transport shared by the serial drivers, and stable port identity.

:class:`SerialLink` is a small async byte pipe over pyserial-asyncio-fast with
its own receive buffer, so that a driver can flush stale bytes before a
command, read an exact count, a line, or "whatever arrives until the line goes
quiet" (GMC's variable-length GETVER), each with a timeout.

:func:`resolve_port` turns a meter's configured identity (a device path, a
``/dev/serial/by-id/...`` link, or ``usb = "VID:PID[:serial]"``) into the path to
open; it is called at every (re)connect, so a meter that re-enumerates as
another ``ttyUSBn`` is still found.
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import MeterError, MeterGone, MeterTimeout

# Rates a serial meter may use; 28800 is one of the GQ GMC's selectable rates (GeigerLog's
# table of GMC config values, pygmc's BAUDRATES).
STANDARD_BAUDRATES = (1200, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 460800, 921600)
# USB-serial bridge chips (not meters): CH340/CH341, CH9102, CP210x, FTDI FT232R, Prolific PL2303.
# Meters behind them cannot be told apart by USB id, so discovery probes them.
USB_SERIAL_BRIDGES = ("1a86:7523", "1a86:55d4", "10c4:ea60", "0403:6001", "067b:2303")

_USB = re.compile(r"^([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})(?::(.+))?$")


@dataclass(frozen=True)
class UsbId:
    vid: int
    pid: int
    serial: str | None = None

    @classmethod
    def parse(cls, text: str) -> UsbId:
        m = _USB.match(text.strip())
        if not m:
            raise ValueError(f"usb must be 'VID:PID' or 'VID:PID:serial' in hex, e.g. '1a86:7523', not {text!r}")
        return cls(int(m.group(1), 16), int(m.group(2), 16), m.group(3))

    def __str__(self) -> str:
        base = f"{self.vid:04x}:{self.pid:04x}"
        return f"{base}:{self.serial}" if self.serial else base


class SerialOptions(BaseModel):
    """Where a serial meter is and how to talk to it (shared by serial drivers)."""

    model_config = ConfigDict(extra="forbid")

    port: str | None = Field(None, description="device path; prefer /dev/serial/by-id/...")
    usb: str | None = Field(None, description="'VID:PID[:serial]', looked up at every (re)connect")
    baudrate: int = Field(115200, description="line speed, 8N1")
    timeout_s: float = Field(1.0, gt=0, le=60, description="reply timeout of one command")

    @field_validator("usb")
    @classmethod
    def _usb_form(cls, value: str | None) -> str | None:
        if value is not None:
            UsbId.parse(value)
        return value

    @field_validator("baudrate")
    @classmethod
    def _standard_baud(cls, value: int) -> int:
        if value not in STANDARD_BAUDRATES:
            raise ValueError(f"{value} is not a standard baud rate")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> SerialOptions:
        if (self.port is None) == (self.usb is None):
            raise ValueError("give exactly one of port (a device path) or usb ('VID:PID[:serial]')")
        return self


def list_serial_ports() -> list[Any]:
    from serial.tools import list_ports

    return list(list_ports.comports())


def by_id_links(directory: str = "/dev/serial/by-id") -> dict[str, str]:
    """Real device path -> its /dev/serial/by-id link (empty where udev made none)."""
    out: dict[str, str] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return out
    for name in names:
        link = os.path.join(directory, name)
        out[os.path.realpath(link)] = link
    return out


def resolve_port(*, port: str | None, usb: str | None, ports: list[Any] | None = None) -> str:
    """The path to open for this identity; MeterGone when the meter is not present."""
    if usb is not None:
        want = UsbId.parse(usb)
        found = [
            p
            for p in (ports if ports is not None else list_serial_ports())
            if p.vid == want.vid and p.pid == want.pid and (want.serial is None or p.serial_number == want.serial)
        ]
        if not found:
            raise MeterGone(f"no USB serial device {want} is plugged in")
        if len(found) > 1:
            serials = ", ".join(sorted(str(p.serial_number) for p in found))
            raise MeterError(f"{len(found)} devices match usb {want} (serials {serials}); add ':serial' to choose one")
        return str(found[0].device)
    assert port is not None
    if not os.path.exists(port):
        raise MeterGone(f"{port} does not exist (unplugged?)")
    return port


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = bytearray()
        self.changed = asyncio.Event()
        self.lost: BaseException | None = None
        self.closed = False
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.changed.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self.changed.set()


class SerialLink:
    """An open serial port with a receive buffer and timed reads.

    Args:
        port: device path, already resolved.
        baudrate: line speed (8N1, no flow control).
        meter: meter id, for error messages.
    """

    def __init__(self, *, port: str, baudrate: int, meter: str):
        self.port = port
        self.baudrate = baudrate
        self.meter = meter
        self._rx: _Receiver | None = None
        self._transport: Any = None

    async def open(self, timeout_s: float = 5.0) -> None:
        import serial_asyncio_fast

        loop = asyncio.get_running_loop()
        try:
            opening: Any = serial_asyncio_fast.create_serial_connection(
                loop, _Receiver, self.port, baudrate=self.baudrate, bytesize=8, parity="N", stopbits=1
            )
            async with asyncio.timeout(timeout_s):
                self._transport, self._rx = await opening
        except TimeoutError:
            raise MeterTimeout(f"opening {self.port} took longer than {timeout_s:g} s", meter=self.meter) from None
        except OSError as err:  # SerialException is an OSError
            raise MeterGone(f"cannot open {self.port}: {err}", meter=self.meter) from None

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
            await asyncio.sleep(0)  # let the transport release the fd

    @property
    def is_open(self) -> bool:
        return self._transport is not None and self._rx is not None and not self._rx.closed

    def _rx_checked(self) -> _Receiver:
        rx = self._rx
        if rx is None or self._transport is None:
            raise MeterGone(f"{self.port} is not open", meter=self.meter)
        if rx.closed:
            why = f": {rx.lost}" if rx.lost else ""
            raise MeterGone(f"{self.port} disconnected{why}", meter=self.meter)
        return rx

    def discard_input(self) -> bytes:
        """Drop (and return) whatever arrived unasked: stale replies, heartbeat bytes."""
        rx = self._rx_checked()
        stale = bytes(rx.buffer)
        rx.buffer.clear()
        rx.changed.clear()
        return stale

    async def write(self, data: bytes) -> None:
        self._rx_checked()
        try:
            self._transport.write(data)
        except OSError as err:
            raise MeterGone(f"write to {self.port} failed: {err}", meter=self.meter) from None

    async def _wait(self, rx: _Receiver, deadline: float) -> bool:
        """Wait for new bytes until ``deadline`` (loop time); False on timeout."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            return False
        rx.changed.clear()
        try:
            async with asyncio.timeout(remaining):
                await rx.changed.wait()
        except TimeoutError:
            return False
        return True

    async def read_exact(self, n: int, timeout_s: float) -> bytes:
        """Exactly ``n`` bytes; MeterTimeout (with what did arrive) otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            rx = self._rx_checked()
            if len(rx.buffer) >= n:
                out = bytes(rx.buffer[:n])
                del rx.buffer[:n]
                return out
            if not await self._wait(rx, deadline):
                self._rx_checked()
                got = bytes(rx.buffer)
                raise MeterTimeout(
                    f"expected {n} bytes within {timeout_s:g} s, got {len(got)}" + (f" ({got.hex()})" if got else ""),
                    meter=self.meter,
                )

    async def read_until(self, terminator: bytes, timeout_s: float, max_bytes: int = 4096) -> bytes:
        """Bytes up to and including ``terminator``; FrameError-free, MeterTimeout on silence."""
        from radsurvey.protocols.errors import FrameError

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            rx = self._rx_checked()
            idx = rx.buffer.find(terminator)
            if idx >= 0:
                end = idx + len(terminator)
                out = bytes(rx.buffer[:end])
                del rx.buffer[:end]
                return out
            if len(rx.buffer) > max_bytes:
                junk = bytes(rx.buffer)
                rx.buffer.clear()
                raise FrameError(f"no line end within {max_bytes} bytes", raw=junk[:64], meter=self.meter)
            if not await self._wait(rx, deadline):
                self._rx_checked()
                got = bytes(rx.buffer)
                raise MeterTimeout(
                    f"no complete line within {timeout_s:g} s" + (f" (partial {got[:64]!r})" if got else ""),
                    meter=self.meter,
                )

    async def read_quiet(self, *, timeout_s: float, gap_s: float, max_bytes: int = 4096) -> bytes:
        """Everything that arrives until the line is quiet for ``gap_s`` (after the first byte)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        rx = self._rx_checked()
        while not rx.buffer:
            if not await self._wait(rx, deadline):
                self._rx_checked()
                raise MeterTimeout(f"no reply within {timeout_s:g} s", meter=self.meter)
            rx = self._rx_checked()
        while len(rx.buffer) < max_bytes:
            if not await self._wait(rx, min(deadline, loop.time() + gap_s)):
                break
            rx = self._rx_checked()
        out = bytes(rx.buffer[:max_bytes])
        del rx.buffer[: len(out)]
        return out

    async def drain_quiet(self, *, quiet_s: float, max_s: float) -> bytes:
        """Throw away what arrives until the line has been quiet for ``quiet_s`` (at most ``max_s``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_s
        drained = bytearray(self.discard_input())
        while loop.time() < deadline:
            rx = self._rx_checked()
            if not await self._wait(rx, min(deadline, loop.time() + quiet_s)):
                break
            drained += self.discard_input()
        drained += self.discard_input()
        return bytes(drained)

    async def extra_bytes(self, gap_s: float) -> bytes:
        """Bytes that trail a complete reply within ``gap_s``: a wrong-length reply."""
        rx = self._rx_checked()
        if not rx.buffer:
            await self._wait(rx, asyncio.get_running_loop().time() + gap_s)
            rx = self._rx_checked()
        out = bytes(rx.buffer)
        rx.buffer.clear()
        return out
