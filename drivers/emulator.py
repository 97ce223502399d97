"""Device emulators on a real pseudo-terminal, for tests and ``radsurvey meters emulate``.

A :class:`DeviceModel` is the device side of a protocol, sans I/O: it gets the
bytes the host sent and returns the bytes the meter would answer, and it may
push bytes by itself (heartbeat, streaming meters). :class:`PtyEmulator` runs a
model on a pty in a background thread and can present it under a stable
symlink, the way udev presents ``/dev/serial/by-id/...`` (an existing symlink
there is replaced, anything else is refused with FileExistsError):

* ``unplug()`` closes the pty (the host sees EIO, like a yanked USB cable) and
  removes the link;
* ``replug()`` opens a *new* pty and points the same link at it.

:class:`TcpEmulator` runs the same model behind ``tcp://127.0.0.1:PORT`` (the byte
stream a USB-over-network bridge carries).

Faults for tests: set ``emulator.fault`` to ``"silence"`` (no replies),
``"garbage"`` (the model garbles its replies), ``"alternate"`` (a garbled
reply, then none, in turn) or ``None``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import select
import socket
import threading
import time
import tty
from pathlib import Path
from typing import Any, Literal

Fault = Literal["silence", "garbage", "alternate"] | None


def line_speed(fd: int) -> int | None:
    """The baud rate the host set on the pty (Linux TCGETS2), or None where unknown."""
    import fcntl
    import struct
    import sys

    if not sys.platform.startswith("linux"):
        return None
    buf = bytearray(44)  # struct termios2; c_ispeed at offset 36
    try:
        fcntl.ioctl(fd, 0x802C542A, buf)
    except OSError:
        return None
    speed: int = struct.unpack_from("I", buf, 36)[0]
    return speed or None


def line_frame(fd: int) -> str | None:
    """The character frame the host set on the pty, e.g. ``"8N1"`` or ``"7E2"`` (None where unknown)."""
    import termios

    try:
        cflag = termios.tcgetattr(fd)[2]
    except (OSError, termios.error):
        return None
    bits = {termios.CS5: 5, termios.CS6: 6, termios.CS7: 7, termios.CS8: 8}[cflag & termios.CSIZE]
    parity = "N" if not cflag & termios.PARENB else ("O" if cflag & termios.PARODD else "E")
    return f"{bits}{parity}{2 if cflag & termios.CSTOPB else 1}"


class DeviceModel:
    """The device side of a meter protocol. Subclasses override :meth:`receive`.

    ``host_baudrate`` and ``host_frame`` are the line speed and character frame the host
    set on the port (None: unknown), kept current by :class:`PtyEmulator`; a model with
    fixed line settings of its own can answer only when they match, as a real UART does.
    """

    host_baudrate: int | None = None
    host_frame: str | None = None  # "8N1", "7E2", ...: what the host set, kept current like host_baudrate

    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes the host sent -> bytes the meter answers (may be empty)."""
        raise NotImplementedError

    def tick(self, now: float) -> bytes:
        """Bytes the meter sends by itself at time ``now`` (monotonic seconds)."""
        return b""

    def garble(self, reply: bytes) -> bytes:
        """A corrupted version of ``reply`` (wrong length and content)."""
        return bytes((b ^ 0xA5) for b in reply) + b"\xfe\x00\x13"

    def reset_link(self) -> None:
        """Called at replug: the USB device starts afresh (partial input dropped)."""

    def driver_options(self) -> dict[str, Any]:
        """Driver options (besides where to connect) needed to read this device."""
        return {}


class PtyEmulator:
    """Run ``model`` on a pty; ``port`` is what the host opens.

    Args:
        model: the device side.
        link: optional symlink path that stays the same across unplug/replug.
    """

    def __init__(self, model: DeviceModel, *, link: str | Path | None = None):
        self.model = model
        self.link = Path(link) if link is not None else None
        self.fault: Fault = None
        self.requests = 0  # chunks of host bytes received
        self._alternate = 0  # replies sent under the "alternate" fault
        self._lock = threading.Lock()
        self._master: int | None = None
        self._slave: int | None = None
        self._slave_name = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> str:
        return str(self.link) if self.link is not None else self._slave_name

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def start(self) -> PtyEmulator:
        self._plug()
        self._thread = threading.Thread(target=self._serve, name="pty-emulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._unplug()

    def unplug(self) -> None:
        with self._lock:
            self._unplug()

    def replug(self) -> None:
        with self._lock:
            self._unplug()
            self.model.reset_link()
            self._plug()

    def __enter__(self) -> PtyEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _plug(self) -> None:
        link = self.link
        if link is not None and os.path.lexists(link) and not link.is_symlink():
            # A stale link of ours may be replaced; a user's file must not be.
            raise FileExistsError(errno.EEXIST, "exists and is not a symlink; not replacing it", str(link))
        master, slave = os.openpty()
        # Raw at once: with the default line discipline the pty would echo our own
        # replies back to us before the host has opened and configured the port.
        tty.setraw(slave)
        name = os.ttyname(slave)
        if link is not None:
            # A fresh temporary name (symlink() never overwrites), then an atomic rename.
            tmp = link.with_name(f".{link.name}.{secrets.token_hex(4)}.tmp")
            try:
                os.symlink(name, tmp)
                os.replace(tmp, link)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                os.close(master)
                os.close(slave)
                raise
        self._master, self._slave, self._slave_name = master, slave, name

    def _unplug(self) -> None:
        if self.link is not None and self._master is not None and self.link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                master = self._master
            if master is None:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select([master], [], [], 0.02)
            except (OSError, ValueError):
                continue  # closed by unplug() between the two lines above
            now = time.monotonic()
            with self._lock:
                if self._master != master:
                    continue
                if self._slave is not None:
                    self.model.host_baudrate = line_speed(self._slave)
                    self.model.host_frame = line_frame(self._slave)
                data = b""
                if ready:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        data = b""
                out = self.exchange(data, now)
                if out:
                    with contextlib.suppress(OSError):
                        os.write(master, out)

    def exchange(self, data: bytes, now: float) -> bytes:
        """What the device answers to ``data`` (may be empty) plus what it sends by itself, faults applied."""
        out = b""
        if data:
            self.requests += 1
            out += self.model.receive(data, now)
        out += self.model.tick(now)
        fault = self.fault
        if out and fault == "alternate":
            self._alternate += 1
            fault = "garbage" if self._alternate % 2 else "silence"
        if not out or fault == "silence":
            return b""
        return self.model.garble(out) if fault == "garbage" else out


class TcpEmulator(PtyEmulator):
    """Run ``model`` behind ``tcp://127.0.0.1:PORT``: the device's byte stream over TCP, one client at a time.

    A USB-over-network bridge (or ser2net) presents a real meter the same way. ``unplug()``
    drops the client and stops accepting; ``replug()`` accepts again on the same port.

    Args:
        model: the device side.
        tcp_port: port on 127.0.0.1 (0: a free one).
    """

    def __init__(self, model: DeviceModel, *, tcp_port: int = 0):
        super().__init__(model)
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self._tcp_port = tcp_port

    @property
    def port(self) -> str:
        return self.where

    @property
    def where(self) -> str:
        return f"tcp://127.0.0.1:{self._tcp_port}"

    @property
    def plugged(self) -> bool:
        return self._listener is not None

    def _plug(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(("127.0.0.1", self._tcp_port))
        except OSError:
            listener.close()
            raise
        listener.listen(1)
        self._tcp_port = listener.getsockname()[1]
        self._listener = listener

    def _unplug(self) -> None:
        for sock in (self._client, self._listener):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()
        self._client = self._listener = None

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                listener, client = self._listener, self._client
            watch = [s for s in (listener, client) if s is not None]
            if not watch:
                time.sleep(0.02)
                continue
            try:
                ready, _, _ = select.select(watch, [], [], 0.02)
            except (OSError, ValueError):
                continue
            now = time.monotonic()
            with self._lock:
                if listener is not None and listener in ready and self._listener is listener:
                    with contextlib.suppress(OSError):
                        accepted, _ = listener.accept()
                        if self._client is not None:  # one client: a new one replaces the old
                            self._client.close()
                        self._client = accepted
                        self.model.reset_link()
                    continue
                if self._client is not client:
                    continue
                data = b""
                if client is not None and client in ready:
                    try:
                        data = client.recv(4096)
                    except OSError:
                        data = b""
                    if not data:  # the host closed: wait for the next one
                        client.close()
                        self._client = None
                        continue
                out = self.exchange(data, now) if client is not None else b""
                if out and client is not None:
                    with contextlib.suppress(OSError):
                        client.sendall(out)
