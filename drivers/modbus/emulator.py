"""A Modbus area monitor, device side: a pymodbus server with the value in its registers.

TCP on 127.0.0.1 (a free port unless given), or RTU on a pty: the pymodbus
serial server sits on one pty and a forwarder joins it to the pty the host
opens, so ``unplug()``/``replug()`` work like on the serial emulators (same
symlink, new pty). The value is computed at each read (``value + n*step``), so
tests can tell every served value apart. Faults: ``"garbage"`` answers a
Modbus exception (E04 server device failure), ``"silence"`` does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import threading
import tty
from pathlib import Path
from typing import Any

from ..emulator import DeviceModel, PtyEmulator
from . import codec


class _Forwarder(DeviceModel):
    """Joins the host's pty to the pty the Modbus server listens on."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave
        self.server_port = os.ttyname(slave)

    def receive(self, data: bytes, now: float) -> bytes:
        os.write(self.master, data)
        return b""

    def tick(self, now: float) -> bytes:
        out = b""
        while select.select([self.master], [], [], 0)[0]:
            chunk = os.read(self.master, 4096)
            if not chunk:
                break
            out += chunk
        return out

    def garble(self, reply: bytes) -> bytes:
        return reply  # faults are made inside the server, where the protocol is known

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class ModbusEmulator:
    """Args:
    pty: serve Modbus RTU on a pty instead of Modbus TCP.
    link: RTU: symlink presented to the host (like /dev/serial/by-id).
    tcp_port: TCP: port on 127.0.0.1 (0: any free port).
    value/step: the n-th read of the value register returns ``value + n*step``.
    status_word: the status register's content.
    """

    def __init__(
        self,
        *,
        pty: bool = False,
        link: str | Path | None = None,
        tcp_port: int = 0,
        unit_id: int = 1,
        register_type: str = "holding",
        address: int = 100,
        data_type: codec.DataType = "f32",
        word_order: codec.Order = "big",
        byte_order: codec.Order = "big",
        value: float = 0.25,
        step: float = 0.0,
        status_address: int | None = 110,
        status_word: int = 0,
        bdkg: bool = False,
    ):
        if bdkg:  # an Atomtex BDKG: its register map (codec.PRESETS["bdkg"]); FC04 only after the start sequence
            register_type, address, data_type, status_address = "input", 0x0008, "f32", None
            if value == 0.25:
                value = 2.0**-23  # Sv/h (0.119 uSv/h), exact in f32 like every value + n * step with step 2**-27
        self.pty = pty
        self.link = link
        self.tcp_port = tcp_port
        self.unit_id = unit_id
        self.register_type = register_type
        self.address = address
        self.data_type: codec.DataType = data_type
        self.word_order: codec.Order = word_order
        self.byte_order: codec.Order = byte_order
        self.value = value
        self.step = step
        self.status_address = status_address
        self.status_word = status_word
        self.bdkg = bdkg
        self.writes: list[tuple[int, int, Any]] = []  # (function code, address, values): every write received
        self.fault: str | None = None
        self._stopping = False
        self.served: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._forwarder: _Forwarder | None = None
        self._pty: PtyEmulator | None = None

    # -- where to connect ---------------------------------------------------------------

    @property
    def port(self) -> str:
        assert self._pty is not None, "not an RTU emulator"
        return self._pty.port

    @property
    def where(self) -> str:
        """What ``radsurvey meters emulate`` prints: the pty path or tcp://host:port."""
        return self.port if self.pty else f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def started(self) -> bool:
        """Whether the BDKG start sequence has been received, in order."""
        from . import codec as c

        wanted = [(w.function, w.address, w.value) for w in c.BDKG_START]
        got = [(fc, a, int(v[0]) if isinstance(v, list) and v else int(bool(v))) for fc, a, v in self.writes]
        return got[: len(wanted)] == wanted

    def driver_options(self) -> dict[str, Any]:
        """Driver options (besides host or port) needed to read this device's value."""
        if self.bdkg:
            return {"preset": "bdkg", "init": "bdkg"}
        options: dict[str, Any] = {"address": self.address, "data_type": self.data_type}
        defaults = {"unit_id": 1, "register_type": "holding", "word_order": "big", "byte_order": "big"}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                options[key] = getattr(self, key)
        return options

    # -- the device --------------------------------------------------------------------

    async def _action(
        self, function_code: int, start_address: int, address: int, count: int, registers: list[int], set_values: Any
    ) -> Any:
        from pymodbus.constants import ExcCodes

        if set_values is not None:
            self.writes.append(
                (function_code, address, list(set_values) if isinstance(set_values, list) else set_values)
            )
            if self.bdkg and function_code in (5, 6):
                return None  # the start sequence's writes are accepted
            return ExcCodes.ILLEGAL_FUNCTION  # read-only device, like the driver expects
        if self.bdkg and function_code == 4 and not self.started:
            return ExcCodes.DEVICE_BUSY  # not measuring yet: the start sequence has not run
        if self.fault == "silence":
            while self.fault == "silence" and not self._stopping:  # noqa: ASYNC110 (set from another thread)
                await asyncio.sleep(0.05)
            return ExcCodes.DEVICE_BUSY  # the host gave up on this request long ago
        if self.fault == "garbage":
            return ExcCodes.DEVICE_FAILURE
        fc_value = 3 if self.register_type == "holding" else 4
        n = codec.REGISTER_COUNT[self.data_type]
        if function_code == fc_value and address <= self.address < address + count:
            value = self.value + len(self.served) * self.step
            self.served.append(value)
            words = codec.encode(value, self.data_type, word_order=self.word_order, byte_order=self.byte_order)
            for i in range(n):
                registers[self.address - start_address + i] = words[i]
        if self.status_address is not None and address <= self.status_address < address + count:
            registers[self.status_address - start_address] = self.status_word
        return None

    def _device(self) -> Any:
        from pymodbus.simulator import DataType, SimData, SimDevice

        bits = [SimData(0, 64, False, DataType.BITS)]
        regs = [SimData(0, 1000, 0, DataType.REGISTERS)]
        return SimDevice(self.unit_id, simdata=(bits, list(bits), regs, list(regs)), action=self._action)

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> ModbusEmulator:
        import logging

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # it logs every refused request
        if self.pty:
            self._forwarder = _Forwarder()
            try:
                self._pty = PtyEmulator(self._forwarder, link=self.link).start()
            except OSError:
                self._forwarder.close()
                raise
        self._thread = threading.Thread(target=self._run, name="modbus-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"modbus emulator did not start: {self._error}")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as err:  # reported to start()
            self._error = err
            self._ready.set()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _serve(self) -> None:
        from pymodbus import FramerType
        from pymodbus.server import ModbusSerialServer, ModbusTcpServer

        if self.pty:
            assert self._forwarder is not None
            self._server = ModbusSerialServer(
                self._device(), framer=FramerType.RTU, port=self._forwarder.server_port, baudrate=9600
            )
        else:
            self._server = ModbusTcpServer(self._device(), address=("127.0.0.1", self.tcp_port))
        task = asyncio.create_task(self._server.serve_forever())
        for _ in range(200):
            if self._server.transport is not None or task.done():
                break
            await asyncio.sleep(0.01)
        if task.done():
            await task
        if not self.pty:
            self.tcp_port = self._server.transport.sockets[0].getsockname()[1]
        self._ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def stop(self) -> None:
        self._stopping = True
        if self._loop is not None and self._server is not None and not self._loop.is_closed():
            fut = asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop)
            with contextlib.suppress(Exception):
                fut.result(5)
        if self._thread is not None:
            self._thread.join(5)
        if self._pty is not None:
            self._pty.stop()
        if self._forwarder is not None:
            self._forwarder.close()

    def unplug(self) -> None:
        assert self._pty is not None, "unplug() is for the RTU emulator"
        self._pty.unplug()

    def replug(self) -> None:
        assert self._pty is not None, "replug() is for the RTU emulator"
        self._pty.replug()

    def __enter__(self) -> ModbusEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
