"""A Rad Pro meter, device side: the ASCII protocol on a pty.

Quirks it reproduces: firmware-dependent property names (``tubeConversionFactor``
before 2.1.1, ``tubeSensitivity`` after; ``tubeType`` only in 3.x) answered
with ``ERROR`` where unknown; a pulse counter that wraps at 2**32; "data mode"
off (the meter stays silent until Settings > Power > Data mode is switched on; the
setting is saved); a counter that freezes (``frozen = True``); ``counter_reset``:
the pulse counter is set back to 0 after the third ``tubePulseCount`` (as a reset
on the meter or another tool does); ``dead_time_compensation_s``: the meter's
compensation on, so ``tubeRate`` is compensated (non-paralysable) while pulse counts
stay raw; ``gmc800``: Rad Pro on a GMC-800 also answers GQ's ``<GETVER>>`` with
``GMC-800Re RADP`` (Rad Pro ``comm.c``).
"""

from __future__ import annotations

from ..emulator import DeviceModel
from .codec import PULSE_COUNT_MODULO


class RadProDevice(DeviceModel):
    """The device side of a Rad Pro meter.

    Args:
        firmware: "3.1" (current) or "2.0" (old property names).
        cps: true pulse rate.
        start_count: the pulse counter's value at start (to test the 2**32 wrap).
    """

    def __init__(
        self,
        *,
        firmware: str | float = "3.1",
        hardware: str = "FS2011 (STM32F051C8)",
        device_id: str = "b5706d937087f975b5812810",
        cps: float = 2.0,
        start_count: int = 0,
        sensitivity_cpm_per_uSv_h: float = 153.8,
        dead_time_s: float = 0.0000325,
        data_mode: bool = True,
        counter_reset: bool = False,
        dead_time_compensation_s: float = 0.0,
        gmc800: bool = False,
        leftovers: bool = False,
    ):
        firmware = f"{firmware:.1f}" if isinstance(firmware, float) else firmware  # "-o firmware=2.0" is JSON
        if firmware not in ("3.1", "2.0"):
            raise ValueError("firmware must be '3.1' or '2.0'")
        self.firmware = firmware
        self.hardware = hardware
        self.device_id = device_id
        self.cps = cps
        self.start_count = start_count
        self.sensitivity = sensitivity_cpm_per_uSv_h
        self.dead_time_s = dead_time_s
        self.data_mode = data_mode
        self.counter_reset = counter_reset
        self.compensation_s = dead_time_compensation_s
        self.gmc800 = gmc800
        self.leftovers = leftovers  # the tail of an earlier datalog transfer and a NUL precede the first reply
        if gmc800 and hardware == "FS2011 (STM32F051C8)":
            self.hardware = "GQ GMC-800 (GD32F103RC)"
        self._count_requests = 0
        self.frozen = False
        self._t0: float | None = None
        self._frozen_count: int | None = None
        self._inbuf = b""
        self.requests: list[str] = []

    def reset_link(self) -> None:
        self._inbuf = b""

    def pulse_count(self, now: float) -> int:
        if self._t0 is None:
            self._t0 = now
        count = (self.start_count + int(self.cps * (now - self._t0))) % PULSE_COUNT_MODULO
        if self.frozen:
            if self._frozen_count is None:
                self._frozen_count = count
            return self._frozen_count
        self._frozen_count = None
        return count

    def receive(self, data: bytes, now: float) -> bytes:
        self._inbuf += data
        out = b""
        if self.gmc800 and self.data_mode:
            while b"<GETVER>>" in self._inbuf:
                _, _, self._inbuf = self._inbuf.partition(b"<GETVER>>")
                self.requests.append("<GETVER>>")
                out += b"GMC-800Re RADP"  # raw, no line end, as Rad Pro answers GQ's query
        while b"\n" in self._inbuf:
            line, _, self._inbuf = self._inbuf.partition(b"\n")
            text = line.rstrip(b"\r").decode("ascii", "replace").strip()
            if not text or not self.data_mode:
                continue
            self.requests.append(text)
            if self.leftovers and len(self.requests) == 1:
                out += b"1763799990,1234567\r\n\x00"
            out += self._answer(text, now) + b"\r\n"
        if len(self._inbuf) > 1024:
            self._inbuf = b""
        return out

    def _answer(self, text: str, now: float) -> bytes:
        parts = text.split()
        if len(parts) != 2 or parts[0] != "GET":
            return b"ERROR"  # this emulator is read-only, like the driver
        name = parts[1]
        old = self.firmware == "2.0"
        if name == "tubePulseCount":
            self._count_requests += 1
            if self.counter_reset and self._count_requests == 4:
                # set back to 0 by a reset on the meter (or another tool) just before this request
                self.start_count = 0
                self._t0 = now
        rate_cpm = self.cps * 60
        if self.compensation_s > 0:
            # Rad Pro floors the denominator at 0.1: its correction never exceeds x10
            rate_cpm = self.cps / max(1 - self.cps * self.compensation_s, 0.1) * 60
        values: dict[str, str] = {
            "deviceId": f"{self.hardware};Rad Pro {self.firmware}/en;{self.device_id}",
            "deviceBatteryVoltage": "1.421",
            "deviceTime": "1763800000",
            "tubePulseCount": str(self.pulse_count(now)),
            "tubeRate": f"{rate_cpm:.3f}",
            "tubeDeadTime": f"{self.dead_time_s:.7f}",
            "tubeDeadTimeCompensation": f"{self.compensation_s:.7f}",
            "tubeTime": "123456",
        }
        if old:
            values["tubeConversionFactor"] = f"{self.sensitivity:.3f}"
        else:
            values["tubeSensitivity"] = f"{self.sensitivity:.3f}"
            values["tubeType"] = "M4011"
        if name not in values:
            return b"ERROR"
        return b"OK " + values[name].encode("ascii")

    def garble(self, reply: bytes) -> bytes:
        return b"\x8f\xffOK?" + reply[::-1].replace(b"\n", b"") + b"\r\n"
