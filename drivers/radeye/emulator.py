"""A Thermo RadEye behind its IR-USB adapter, device side, on a pty (9600 7E2).

Written from the protocol facts in ``codec.py``. It sleeps until a byte wakes it
(answer ``>``), answers ``#R`` and ``Vx``, and after ``X1`` sends a record every
``period_s`` (the meter: 1 s) until ``X0``. Like a real UART it answers only when the
host's line is 9600 7E2. The n-th record's value is ``counts + n`` (hundredths of a
uSv/h: 0.12, 0.13, ...), so tests can tell every record apart; :attr:`served` lists
the (count, unit code) of the field a driver should read, :attr:`commands` every
command received.

Quirks (``radsurvey meters emulate radeye --unit-change ...``):

* ``unit_change``: from the third record the dose rate is in the mSv/h range (the
  display switches units; the record stays in 0.01 uSv/h), and from the fifth the
  meter reports in R/h (unit code 2, integer uR/h);
* ``prd_er``: a PRD-ER: value1 is the count rate (cps), value2 the dose rate;
* ``corrupt_every``: every N-th record loses a digit to a letter (a corrupted record);
* ``low_battery``: the low-battery flag (bit 5) is set.
"""

from __future__ import annotations

from typing import Any

from ..emulator import DeviceModel
from . import codec

LINE = (codec.BAUDRATE, "7E2")


class RadEyeDevice(DeviceModel):
    def __init__(
        self,
        *,
        model: str = "PRD",
        serial: str = "123456",
        firmware: str = "1.31",
        counts: int = 12,
        period_s: float = 1.0,
        unit_change: bool = False,
        prd_er: bool = False,
        corrupt_every: int = 0,
        low_battery: bool = False,
    ):
        self.model = "PRD-ER" if prd_er else model
        self.serial = serial
        self.firmware = firmware
        self.counts = counts
        self.period_s = period_s
        self.unit_change = unit_change
        self.prd_er = prd_er
        self.corrupt_every = corrupt_every
        self.low_battery = low_battery
        self.commands: list[str] = []
        self.served: list[tuple[int, int]] = []
        self.streaming = False
        self._inbuf = bytearray()
        self._next_at = 0.0
        self._n = 0

    def driver_options(self) -> dict[str, Any]:
        return {}

    def reset_link(self) -> None:
        self._inbuf.clear()

    def _line_ok(self) -> bool:
        # A Linux pty keeps 8 data bits and no parity whatever the host asks, so only the
        # speed and the stop bits can be checked there (both None over TCP: not checked).
        if self.host_baudrate is not None and self.host_baudrate != LINE[0]:
            return False
        return self.host_frame is None or self.host_frame.endswith(LINE[1][-1])

    def receive(self, data: bytes, now: float) -> bytes:
        if not self._line_ok():
            return b""  # a UART at other settings hears noise
        self._inbuf += data
        out = b""
        while self._inbuf:
            if self._inbuf[0] == ord(">"):
                end = self._inbuf.find(b"\n")
                if end < 0:
                    break
                text = self._inbuf[1:end].decode("ascii", "replace").strip()
                del self._inbuf[: end + 1]
                out += self._command(text, now)
            else:
                del self._inbuf[:1]  # any other byte ('@' or noise) wakes the meter
                out += codec.READY
        return out

    def _command(self, text: str, now: float) -> bytes:
        self.commands.append(text)
        if text == "#R":
            return f"{self.serial}\r\n".encode()
        if text == "Vx":
            return f"{self.firmware} {self.model}\r\n".encode()
        if text == "X1":
            self.streaming = True
            self._next_at = now + self.period_s / 2
            return b""
        if text == "X0":
            self.streaming = False
            return b""
        return b"?\r\n"

    def tick(self, now: float) -> bytes:
        if not self.streaming or now < self._next_at or not self._line_ok():
            return b""
        self._next_at = now + self.period_s
        return self._record()

    def _record(self) -> bytes:
        n = self._n
        self._n += 1
        count, code = self.counts + n, 0
        if self.unit_change and n >= 2:
            count = 150_000 + n  # 1500 uSv/h: the display shows mSv/h
        if self.unit_change and n >= 4:
            count, code = 100_000 + n, 2  # uR/h
        flags = codec.FLAG_LOW_BATTERY if self.low_battery else 0
        if self.prd_er:
            frame = codec.build_record(500 + n, 5, count, code, flags, self.model)
        else:
            frame = codec.build_record(count, code, 0, 0, flags, self.model)
        if self.corrupt_every and (n + 1) % self.corrupt_every == 0:
            digits = [i for i, b in enumerate(frame) if chr(b).isdigit()]
            spoilt = bytearray(frame)
            spoilt[digits[0]] = ord("Z")
            return bytes(spoilt)
        self.served.append((count, code))
        return frame
