"""Byte transports given to drivers, and stable port identity.

A driver does not build its transport: it is given a :class:`Connector` (the
ophyd-async habit), which makes a fresh :class:`ByteLink` at every (re)connect.
Every link is the same small async byte pipe with its own receive buffer, so a
driver can flush stale bytes before a command, read an exact count, a line, or
"whatever arrives until the line goes quiet" (GMC's variable-length GETVER),
each with a timeout, whatever carries the bytes:

* :class:`SerialLink`: a serial port (pyserial-asyncio-fast), a pty in tests;
* :class:`TcpLink`: ``tcp://HOST:PORT``, a byte stream over TCP (emulators, USB or
  serial devices on another machine behind a bridge such as ser2net);
* :class:`UsbBulkLink`: a USB device's bulk endpoints (pyusb, the ``usb`` extra);
* :class:`BleLink`: a write and a notify characteristic (bleak, the ``ble`` extra).

:func:`resolve_port` turns a meter's configured identity (a device path, a
``/dev/serial/by-id/...`` link, or ``usb = "VID:PID[:serial]"``) into the path to
open; connectors call it at every (re)connect, so a meter that re-enumerates as
another ``ttyUSBn`` is still found.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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


def _check_usb(value: str | None) -> str | None:
    if value is not None:
        UsbId.parse(value)
    return value


def _check_port(value: str | None) -> str | None:
    if is_tcp(value):
        parse_tcp(value or "")
    return value


# Option types shared by every driver's options: a USB identity, and a device path or tcp://HOST:PORT.
UsbOption = Annotated[str | None, AfterValidator(_check_usb)]
PortOption = Annotated[str | None, AfterValidator(_check_port)]


class SerialOptions(BaseModel):
    """Where a serial meter is and how to talk to it (shared by serial drivers)."""

    model_config = ConfigDict(extra="forbid")

    port: PortOption = Field(
        None, description="device path (prefer /dev/serial/by-id/...), or tcp://HOST:PORT for the byte stream over TCP"
    )
    usb: UsbOption = Field(None, description="'VID:PID[:serial]', looked up at every (re)connect")
    baudrate: int = Field(115200, description="line speed, 8N1")
    timeout_s: float = Field(1.0, gt=0, le=60, description="reply timeout of one command")

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


class ByteLink:
    """An open byte pipe with a receive buffer and timed reads; subclasses say how to connect.

    Args:
        where: what is connected, for messages (a path, ``tcp://host:port``, a USB id).
        meter: meter id, for error messages.
    """

    def __init__(self, *, where: str, meter: str):
        self.where = where
        self.meter = meter
        self._rx: _Receiver | None = None
        self._transport: Any = None  # has write(bytes) and close()

    @property
    def port(self) -> str:
        return self.where

    async def _connect(self, timeout_s: float) -> tuple[Any, _Receiver]:
        raise NotImplementedError

    async def open(self, timeout_s: float = 5.0) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                self._transport, self._rx = await self._connect(timeout_s)
        except TimeoutError:
            raise MeterTimeout(f"opening {self.where} took longer than {timeout_s:g} s", meter=self.meter) from None
        except OSError as err:  # SerialException is an OSError
            raise MeterGone(f"cannot open {self.where}: {err}", meter=self.meter) from None

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
            raise MeterGone(f"{self.where} is not open", meter=self.meter)
        if rx.closed:
            why = f": {rx.lost}" if rx.lost else ""
            raise MeterGone(f"{self.where} disconnected{why}", meter=self.meter)
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
            raise MeterGone(f"write to {self.where} failed: {err}", meter=self.meter) from None

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


Parity = Literal["N", "E", "O"]


class SerialLink(ByteLink):
    """A serial port (or pty). ``port`` is the resolved device path."""

    def __init__(
        self,
        *,
        port: str,
        baudrate: int,
        meter: str,
        bytesize: Literal[7, 8] = 8,
        parity: Parity = "N",
        stopbits: Literal[1, 2] = 1,
    ):
        super().__init__(where=port, meter=meter)
        self.baudrate = baudrate
        self.bytesize = bytesize
        self.parity = parity
        self.stopbits = stopbits

    async def _connect(self, timeout_s: float) -> tuple[Any, _Receiver]:
        import termios

        import serial
        import serial_asyncio_fast

        loop = asyncio.get_running_loop()
        try:
            port = await loop.run_in_executor(None, self._open_port)
        except (termios.error, serial.SerialException) as err:
            # The port exists but refuses the line settings: pyserial passes on the termios.error of
            # setting them, and reports one of reading them as "Could not configure port" raised while
            # handling it. Name the settings it refused.
            refusal = err if isinstance(err, termios.error) else err.__context__
            if not isinstance(refusal, termios.error):
                raise
            why = refusal.args[1] if len(refusal.args) > 1 else refusal
            frame = f"{self.baudrate} {self.bytesize}{self.parity}{self.stopbits}"
            raise MeterGone(f"{self.where} refuses the line settings {frame}: {why}", meter=self.meter) from None
        rx = _Receiver()
        try:
            transport, _ = await serial_asyncio_fast.connection_for_serial(loop, lambda: rx, port)
        except BaseException:
            port.close()
            raise
        return transport, rx

    def _open_port(self) -> Any:
        """The port opened non-blocking with its line set, once (see :func:`_line_set_once`)."""
        return _line_set_once()(
            self.where,
            baudrate=self.baudrate,
            bytesize=self.bytesize,
            parity=self.parity,
            stopbits=self.stopbits,
            timeout=0,
            write_timeout=0,
        )


@functools.cache
def _line_set_once() -> type:
    """A ``serial.Serial`` that does not set the line again when a timeout is set to the value it has.

    pyserial writes the whole termios again whenever ``timeout`` or
    ``write_timeout`` is assigned, and the asyncio transport assigns both (0)
    once the port is open. The first write already asked for everything; a
    second one can only fail: a Linux pty keeps 8 data bits and no parity
    whatever is asked, and Linux 6.18 answers a request whose only change is
    one the pty cannot have (7E2 again) with EINVAL, so a RadEye (9600 7E2)
    could not be read through a pty at all.
    The port is therefore opened with both timeouts 0 and the same assignments
    leave the line alone.
    """
    import serial

    def kept(name: str) -> property:
        """pyserial's property ``name``, whose setter does nothing on an open port when the value is unchanged."""
        base: property = getattr(serial.Serial, name)

        def assign(port: Any, value: float | None) -> None:
            if not (port.is_open and value == base.fget(port)):  # type: ignore[misc]
                base.fset(port, value)  # type: ignore[misc]

        return property(base.fget, assign)

    class LineSetOnce(serial.Serial):  # type: ignore[misc]
        timeout = kept("timeout")
        write_timeout = kept("write_timeout")

    return LineSetOnce


class TcpLink(ByteLink):
    """A byte stream over TCP: exactly the bytes the device would exchange on its own wire."""

    def __init__(self, *, host: str, port: int, meter: str):
        super().__init__(where=f"tcp://{host}:{port}", meter=meter)
        self.host = host
        self.tcp_port = port

    async def _connect(self, timeout_s: float) -> tuple[Any, _Receiver]:
        transport, rx = await asyncio.get_running_loop().create_connection(_Receiver, self.host, self.tcp_port)
        return transport, rx


class _ThreadTransport:
    """Runs a blocking device (pyusb) in one thread: writes queued from the loop, reads fed back to it."""

    def __init__(self, rx: _Receiver, loop: asyncio.AbstractEventLoop, io: Callable[[list[bytes]], bytes], name: str):
        self._rx = rx
        self._loop = loop
        self._io = io  # io(pending writes) -> bytes read (b"" on a read timeout); raises OSError when gone
        self._pending: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> None:
        with self._lock:
            self._pending.append(bytes(data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pending, self._pending = self._pending, []
            try:
                data = self._io(pending)
            except Exception as err:  # the device went away: tell the loop, stop
                self._loop.call_soon_threadsafe(self._rx.connection_lost, err if isinstance(err, Exception) else None)
                return
            if data:
                self._loop.call_soon_threadsafe(self._rx.data_received, data)


class UsbBulkLink(ByteLink):
    """A USB device's bulk OUT and IN endpoints (pyusb; ``pip install 'radsurvey[usb]'``).

    Found by USB id and, when given, serial number at every open, never by bus address.
    """

    def __init__(self, *, usb: UsbId, meter: str, out_endpoint: int, in_endpoint: int, read_timeout_ms: int = 50):
        super().__init__(where=f"usb {usb}", meter=meter)
        self.usb = usb
        self.out_endpoint = out_endpoint
        self.in_endpoint = in_endpoint
        self.read_timeout_ms = read_timeout_ms

    async def _connect(self, timeout_s: float) -> tuple[Any, _Receiver]:
        try:
            import usb.core
        except ImportError:
            raise MeterGone("reading over USB needs pyusb: pip install 'radsurvey[usb]'", meter=self.meter) from None
        want = self.usb

        def _find() -> Any:
            found = [
                d
                for d in usb.core.find(find_all=True, idVendor=want.vid, idProduct=want.pid)
                if want.serial is None or d.serial_number == want.serial
            ]
            if not found:
                raise MeterGone(f"no USB device {want} is plugged in", meter=self.meter)
            if len(found) > 1:
                raise MeterError(
                    f"{len(found)} USB devices match {want}; add ':serial' to choose one", meter=self.meter
                )
            return found[0]

        device = await asyncio.to_thread(_find)
        out_ep, in_ep, timeout_ms = self.out_endpoint, self.in_endpoint, self.read_timeout_ms

        def _io(pending: list[bytes]) -> bytes:
            for chunk in pending:
                device.write(out_ep, chunk, timeout=1000)
            try:
                return bytes(device.read(in_ep, 512, timeout=timeout_ms))
            except usb.core.USBTimeoutError:
                return b""

        rx = _Receiver()
        return _ThreadTransport(rx, asyncio.get_running_loop(), _io, f"usb-{self.meter}"), rx


class BleLink(ByteLink):
    """A BLE device's write characteristic (out) and notify characteristic (in) (bleak; the ``ble`` extra)."""

    def __init__(self, *, address: str, meter: str, write_uuid: str, notify_uuid: str, chunk_bytes: int = 18):
        super().__init__(where=f"ble {address}", meter=meter)
        self.address = address
        self.write_uuid = write_uuid
        self.notify_uuid = notify_uuid
        self.chunk_bytes = chunk_bytes

    async def _connect(self, timeout_s: float) -> tuple[Any, _Receiver]:
        try:
            from bleak import BleakClient
        except ImportError:
            raise MeterGone(
                "reading over Bluetooth needs bleak: pip install 'radsurvey[ble]'", meter=self.meter
            ) from None
        rx = _Receiver()
        client = BleakClient(self.address, timeout=timeout_s, disconnected_callback=lambda _c: rx.connection_lost(None))
        await client.connect()
        try:
            async with asyncio.timeout(timeout_s):
                await client.start_notify(self.notify_uuid, lambda _char, data: rx.data_received(bytes(data)))
        except BaseException:
            await client.disconnect()
            raise
        return _BleTransport(client, self.write_uuid, self.chunk_bytes, rx, timeout_s), rx


class _BleTransport:
    """Writes in chunks of the characteristic's size, each within the link's timeout; a write that fails
    or hangs ends the link (the reader then sees it lost, and the driver reconnects)."""

    def __init__(self, client: Any, write_uuid: str, chunk_bytes: int, rx: _Receiver, timeout_s: float):
        self._client = client
        self._write_uuid = write_uuid
        self._chunk = chunk_bytes
        self._rx = rx
        self._timeout_s = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()

    def write(self, data: bytes) -> None:
        async def _send() -> None:
            try:
                for pos in range(0, len(data), self._chunk):
                    async with asyncio.timeout(self._timeout_s):
                        await self._client.write_gatt_char(
                            self._write_uuid, data[pos : pos + self._chunk], response=False
                        )
            except Exception as err:  # a timeout, bleak's BleakError, an OSError: each ends the link
                self._rx.connection_lost(err)

        task = asyncio.get_running_loop().create_task(_send())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        asyncio.get_running_loop().create_task(self._client.disconnect())


# -- connectors: what a driver is given --------------------------------------------------------


class Connector(Protocol):
    """Makes the link to one meter at each (re)connect; a driver is given one and never builds its own."""

    @property
    def where(self) -> str: ...

    def link(self, *, meter: str) -> ByteLink:
        """A new, unopened link; resolves the meter's identity now (MeterGone if absent)."""
        ...


@dataclass
class SerialConnector:
    """A serial meter by device path or USB identity, with its line settings.

    ``answered_at``: the line speed the meter last identified at through this connector
    (kept across reconnects of one meter; a driver with auto-baud starts there).
    """

    port: str | None
    usb: str | None
    baudrate: int
    bytesize: Literal[7, 8] = 8
    parity: Parity = "N"
    stopbits: Literal[1, 2] = 1
    answered_at: int | None = None

    @property
    def where(self) -> str:
        return self.port or f"usb {self.usb}"

    def at(self, baudrate: int) -> SerialConnector:
        """The same port at another line speed (auto-baud searches)."""
        return replace(self, baudrate=baudrate, answered_at=None)

    def link(self, *, meter: str) -> SerialLink:
        path = resolve_port(port=self.port, usb=self.usb)
        return SerialLink(
            port=path,
            baudrate=self.baudrate,
            meter=meter,
            bytesize=self.bytesize,
            parity=self.parity,
            stopbits=self.stopbits,
        )


@dataclass
class TcpConnector:
    """``tcp://HOST:PORT``: the device's byte stream over TCP."""

    host: str
    port: int
    answered_at: int | None = None  # unused: a TCP stream has no line speed

    @property
    def where(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def at(self, baudrate: int) -> TcpConnector:
        return self  # a TCP stream has no line speed

    def link(self, *, meter: str) -> TcpLink:
        return TcpLink(host=self.host, port=self.port, meter=meter)


_TCP = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def parse_tcp(text: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` -> (host, port); ValueError naming the form otherwise."""
    m = _TCP.match(text.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise ValueError(f"must be tcp://HOST:PORT, e.g. tcp://127.0.0.1:5555, not {text!r}")
    return m.group(1).strip("[]"), int(m.group(2))


def is_tcp(port: str | None) -> bool:
    return port is not None and port.startswith("tcp://")


def serial_connector(
    options: Any,
    *,
    baudrate: int | None = None,
    bytesize: Literal[7, 8] = 8,
    parity: Parity = "N",
    stopbits: Literal[1, 2] = 1,
) -> SerialConnector | TcpConnector:
    """The connector a serial driver's options name: ``port``/``usb``, or ``port = "tcp://HOST:PORT"``.

    ``baudrate`` and the frame settings default to the options' (8N1 at 115200 when unset).
    """
    port: str | None = options.port
    if is_tcp(port):
        assert port is not None
        host, tcp_port = parse_tcp(port)
        return TcpConnector(host, tcp_port)
    return SerialConnector(
        port=port,
        usb=options.usb,
        baudrate=baudrate or options.baudrate or 115200,
        bytesize=bytesize,
        parity=parity,
        stopbits=stopbits,
    )
