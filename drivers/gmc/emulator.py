"""A GQ GMC meter, device side: answers the real byte protocol on a pty.

Quirks it reproduces: GETVER of model-dependent length (19 bytes with an
embedded NUL on GMC-320+V5), a heartbeat that may already be running when the
host connects, garbage in the top bits of RFC1201 heartbeat CPS, 2- or 4-byte
CPM by model, silence on unknown commands.
"""

from __future__ import annotations

import random
import re
from datetime import datetime

from ..emulator import DeviceModel
from .codec import ModelSpec, model_spec

VERSIONS: dict[str, bytes] = {
    "GMC-300": b"GMC-300Re 2.10",
    "GMC-320+V5": b"GMC-320+V5\x00RRe 5.73",
    "GMC-500+": b"GMC-500+Re 2.28",
    "GMC-600+": b"GMC-600+Re 2.52",
    "GMC-800": b"GMC-800Re1.10",
}

_CMD = re.compile(rb"<([A-Z][A-Z0-9]*)([^<>]*)>>", re.S)


class GmcDevice(DeviceModel):
    """The device side of a GMC meter.

    Args:
        model: a key of VERSIONS.
        cpm: mean counts per minute.
        step: when not 0, the n-th CPM reply is ``cpm + n*step`` exactly (tests
            can then spot duplicated or invented readings); else Poisson noise.
        heartbeat_at_start: the meter is already streaming CPS when the host connects.
    """

    def __init__(
        self,
        *,
        model: str = "GMC-320+V5",
        cpm: int = 120,
        step: int = 0,
        seed: int = 0,
        heartbeat_at_start: bool = False,
        serial: bytes = bytes.fromhex("F488C5A2B1D7E3"),
    ):
        if model not in VERSIONS:
            raise ValueError(f"unknown GMC model {model!r}; known: {', '.join(VERSIONS)}")
        self.model = model
        self.spec: ModelSpec = model_spec(model) or ModelSpec("rfc1801", 4, 5)
        self.cpm = cpm
        self.step = step
        self.rng = random.Random(seed)
        self.serial = serial
        self.heartbeat = heartbeat_at_start
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
        n = self.spec.cpm_bytes
        return (value & ((1 << (8 * n)) - 1)).to_bytes(n, "big")

    def reset_link(self) -> None:
        self._inbuf = b""

    def receive(self, data: bytes, now: float) -> bytes:
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
        spec = self.spec
        if name == "GETVER":
            return VERSIONS[self.model]
        if name == "GETSERIAL":
            return self.serial
        if name == "GETCPM":
            return self._uint(self._cpm_value())
        if name in ("GETCPML", "GETCPMH") and spec.dual_tube:
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
            return bytes([98]) if spec.volt_bytes == 1 else b"3.97v"
        if name == "GETDATETIME":
            c = self.clock
            return bytes([c.year - 2000, c.month, c.day, c.hour, c.minute, c.second, 0xAA])
        if name == "GETCFG":
            return bytes(256 if spec.family == "rfc1201" else 512)
        return b""  # the firmware ignores what it does not know

    def tick(self, now: float) -> bytes:
        if not self.heartbeat or now < self._next_beat:
            return b""
        self._next_beat = max(self._next_beat + 1.0, now)
        cps = self.rng.choice((1, 2, 3)) if not self.step else self.cpm // 60
        if self.spec.family == "rfc1201":
            cps |= 0x4000  # the top bits are not part of the count
        return self._uint(cps)

    def garble(self, reply: bytes) -> bytes:
        return reply + b"\xff\x13"  # a reply of the wrong length
