"""A GQ GMC meter, device side: answers the real byte protocol on a pty.

The device table below is written from the sources (GeigerLog's per-model code and
its logs of real meters, pygmc's device classes and recorded device data, the
GQ-RFC1201/RFC1801 documents), not from the driver's table, so that the
conformance test checks the driver against the sources rather than against itself.

Quirks it reproduces, each selectable (``radsurvey meters emulate gmc --model ...
--stale-bytes --nul-volt``): GETVER of model-dependent length (19 bytes with an
embedded NUL on GMC-320+V5); 2- or 4-byte CPM by model *and firmware*; a fixed
baud rate per model (silence when the host's line speed differs, as a UART at the
wrong speed does not understand the command); ``stale_bytes``: for about a second
after the host's first bytes, leftovers of an earlier heartbeat keep arriving;
``nul_volt``: GETVOLT as ``4.0v`` plus a NUL; a heartbeat that may already be
running when the host connects; garbage in the top bits of RFC1201 heartbeat CPS;
silence on unknown commands.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime

from ..emulator import DeviceModel


@dataclass(frozen=True)
class Device:
    version: bytes  # the GETVER reply
    cpm_bytes: int
    volt: bytes  # the GETVOLT reply
    baudrate: int
    dual_tube: bool = False
    rfc1201: bool = False


_V1 = bytes([98])  # 9.8 V, one byte x 0.1 V
# key: model-firmware, lower case; what the sources say each meter answers.
DEVICES: dict[str, Device] = {
    "gmc-300-2.10": Device(b"GMC-300Re 2.10", 2, _V1, 57600, rfc1201=True),
    "gmc-300e+-4.54": Device(b"GMC-300Re 4.54", 2, _V1, 57600, rfc1201=True),  # GeigerLog log, pygmc 57600
    "gmc-300s-1.03": Device(b"GMC-300SRe 1.03", 2, _V1, 57600, rfc1201=True),
    "gmc-320-4.19": Device(b"GMC-320Re 4.19", 2, _V1, 115200, rfc1201=True),
    "gmc-320+v5-5.73": Device(b"GMC-320+V5\x00RRe 5.73", 2, _V1, 115200, rfc1201=True),
    "gmc-se-1.05": Device(b"GMC-SE Re 1.05", 2, _V1, 115200, rfc1201=True),
    "gmc-500-1.08": Device(b"GMC-500Re 1.08", 2, b"4.1v", 115200, dual_tube=True),  # GeigerLog: 2-byte CPM; two tubes
    "gmc-500+-2.28": Device(b"GMC-500+Re 2.28", 4, b"3.97v", 115200, dual_tube=True),
    "gmc-510+-1.04": Device(b"GMC-510Re 1.04", 4, _V1, 115200),  # GeigerLog: 4 bytes, 1-byte volt
    "gmc-600+-2.26": Device(b"GMC-600+Re 2.26", 2, b"4.2v", 115200),  # GeigerLog: 2 bytes before 2.4
    "gmc-600+-2.52": Device(b"GMC-600+Re 2.52", 4, b"3.97v", 115200),
    "gmc-800-1.10": Device(b"GMC-800Re1.10", 4, b"3.97v", 115200),
}
# The names of the 0.1 emulator, still accepted.
ALIASES = {
    "GMC-300": "gmc-300-2.10",
    "GMC-320+V5": "gmc-320+v5-5.73",
    "GMC-500+": "gmc-500+-2.28",
    "GMC-600+": "gmc-600+-2.52",
    "GMC-800": "gmc-800-1.10",
}
VERSIONS = {key: d.version for key, d in DEVICES.items()}

_CMD = re.compile(rb"<([A-Z][A-Z0-9]*)([^<>]*)>>", re.S)
_STALE_S = 1.0


class GmcDevice(DeviceModel):
    """The device side of a GMC meter.

    Args:
        model: a key of DEVICES (``gmc-500-1.08``) or an old name (``GMC-500+``).
        cpm: mean counts per minute.
        step: when not 0, the n-th CPM reply is ``cpm + n*step`` exactly (tests
            can then spot duplicated or invented readings); else Poisson noise.
        heartbeat_at_start: the meter is already streaming CPS when the host connects.
        stale_bytes: leftovers of an earlier heartbeat arrive for a second after the host's first bytes.
        nul_volt: GETVOLT answers ``4.0v`` and a NUL (real GMC-500+/600+).
        baudrate: the meter's line speed (default: the model's); 0 answers at any speed.
        version / cpm_bytes: a meter outside the table (its GETVER text and CPM size).
    """

    def __init__(
        self,
        *,
        model: str = "gmc-320+v5-5.73",
        cpm: int = 120,
        step: int = 0,
        seed: int = 0,
        heartbeat_at_start: bool = False,
        stale_bytes: bool = False,
        nul_volt: bool = False,
        baudrate: int | None = None,
        version: str | None = None,
        cpm_bytes: int | None = None,
        serial: bytes = bytes.fromhex("F488C5A2B1D7E3"),
    ):
        key = ALIASES.get(model, model.lower())
        if version is not None:
            if cpm_bytes not in (2, 4):
                raise ValueError("a meter outside the table needs version and cpm_bytes (2 or 4)")
            device = Device(version.encode("ascii"), cpm_bytes, b"3.97v", 115200)
        elif key in DEVICES:
            device = DEVICES[key]
        else:
            raise ValueError(f"unknown GMC model {model!r}; known: {', '.join(DEVICES)}")
        if nul_volt:
            device = Device(device.version, device.cpm_bytes, b"4.0v\x00", device.baudrate, device.dual_tube)
        self.model = key
        self.device = device
        self.baudrate = device.baudrate if baudrate is None else baudrate
        self.cpm = cpm
        self.step = step
        self.rng = random.Random(seed)
        self.serial = serial
        self.heartbeat = heartbeat_at_start
        self.stale_bytes = stale_bytes
        self._stale_until: float | None = None
        self._next_stale = 0.0
        self._next_beat = 0.0
        self._inbuf = b""
        self.cpm_served: list[int] = []
        self.commands: list[str] = []
        self.clock = datetime(2026, 11, 22, 8, 30, 0)

    def _cpm_value(self) -> int:
        n = len(self.cpm_served)
        if self.step:
            value = self.cpm + n * self.step
        else:
            value = max(0, round(self.rng.gauss(self.cpm, self.cpm**0.5)))
        self.cpm_served.append(value)
        return value

    def _uint(self, value: int) -> bytes:
        n = self.device.cpm_bytes
        return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "big")

    def reset_link(self) -> None:
        self._inbuf = b""
        self._stale_until = None

    def _speed_ok(self) -> bool:
        return not self.baudrate or self.host_baudrate is None or self.host_baudrate == self.baudrate

    def receive(self, data: bytes, now: float) -> bytes:
        if self.stale_bytes and self._stale_until is None:
            self._stale_until = now + _STALE_S
        if not self._speed_ok():
            return b""  # at the wrong speed the meter's UART sees noise, not a command
        self._inbuf += data
        out = b""
        while True:
            m = _CMD.search(self._inbuf)
            if not m:
                self._inbuf = self._inbuf[-64:]
                return out
            self._inbuf = self._inbuf[m.end() :]
            name = m.group(1).decode()
            self.commands.append(name)
            out += self._answer(name, now)

    def _answer(self, name: str, now: float) -> bytes:
        d = self.device
        if name == "GETVER":
            return d.version
        if name == "GETSERIAL":
            return self.serial
        if name == "GETCPM":
            return self._uint(self._cpm_value())
        if name in ("GETCPML", "GETCPMH") and d.dual_tube:
            total = self._cpm_value()
            low = round(total * 0.8)
            return self._uint(low if name == "GETCPML" else total - low)
        if name == "GETCPS":
            return self._uint(self.cpm // 60)
        if name == "HEARTBEAT1":
            self.heartbeat = True
            self._next_beat = now + 1.0
            return b""
        if name == "HEARTBEAT0":
            self.heartbeat = False
            return b""
        if name == "GETVOLT":
            return d.volt
        if name == "GETDATETIME":
            c = self.clock
            return bytes([c.year - 2000, c.month, c.day, c.hour, c.minute, c.second, 0xAA])
        if name == "GETCFG":
            return bytes(256 if d.rfc1201 else 512)
        return b""  # the firmware ignores what it does not know

    def tick(self, now: float) -> bytes:
        out = b""
        if self._stale_until is not None and now < self._stale_until and now >= self._next_stale:
            # what an earlier session's heartbeat left in the bridge: CPS frames with high bits set
            self._next_stale = now + 0.08
            out += bytes([0x40 | self.rng.randrange(4), self.rng.choice((1, 2, 3))])
        if not self.heartbeat or now < self._next_beat:
            return out
        self._next_beat = max(self._next_beat + 1.0, now)
        cps = self.rng.choice((1, 2, 3)) if not self.step else self.cpm // 60
        if self.device.rfc1201:
            cps |= 0x4000  # the top bits are not part of the count
        return out + self._uint(cps)

    def garble(self, reply: bytes) -> bytes:
        return reply + b"\xff\x13"  # a reply of the wrong length
