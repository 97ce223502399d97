"""A meter that follows a script of (sent, reply) pairs, on a real pty.

PyMeasure's way to pin a wire protocol: the test lists exactly what the host
must send and what the meter answers; the test fails on any other byte and
when the script is not used up. ``push(data)`` makes the meter send bytes
nobody asked for (a heartbeat, a late reply), between two exchanges.
"""

from __future__ import annotations

from radsurvey.drivers.emulator import DeviceModel


class ScriptedDevice(DeviceModel):
    def __init__(self, pairs: list[tuple[bytes, bytes]]):
        self.pairs = list(pairs)
        self.pending = b""
        self.errors: list[str] = []
        self._unsolicited = b""

    def push(self, data: bytes) -> None:
        self._unsolicited += data

    def tick(self, now: float) -> bytes:
        out, self._unsolicited = self._unsolicited, b""
        return out

    def receive(self, data: bytes, now: float) -> bytes:
        self.pending += data
        out = b""
        while self.pairs and len(self.pending) >= len(self.pairs[0][0]):
            sent, reply = self.pairs[0]
            got, self.pending = self.pending[: len(sent)], self.pending[len(sent) :]
            if got != sent:
                self.errors.append(f"expected {sent!r}, host sent {got!r}")
                self.pairs.clear()
                return out
            self.pairs.pop(0)
            out += reply
        if not self.pairs and self.pending:
            self.errors.append(f"host sent {self.pending!r} after the script ended")
            self.pending = b""
        return out

    def assert_done(self) -> None:
        assert not self.errors, self.errors
        assert not self.pairs, f"script not consumed: next expected {self.pairs[0][0]!r}"
