"""A SCPI instrument, device side, on a pty: an electrometer reading an ion chamber.

Answers ``*IDN?`` and a measurement query (default ``READ?``) with the current
in amperes, ``current_A + n*step_A`` for the n-th read; what it does not know
it ignores (a real instrument queues an error and stays silent, so the host
times out). ``overload = True`` answers SCPI's overload value 9.9E37;
``keithley = True`` answers as a Keithley electrometer with its UNITs element on,
``+1.000000E-12NADC,+0000000.50secs,+00001RDNG#``.
Connect with the VISA resource ``ASRL<port>::INSTR``.
"""

from __future__ import annotations

from typing import Any

from ..emulator import DeviceModel, PtyEmulator


class ScpiDevice(DeviceModel):
    def __init__(
        self,
        *,
        idn: str = "RADSURVEY,EMULATED-ELECTROMETER,EM-0042,1.0",
        measure_query: str = "READ?",
        current_A: float = 2.5e-12,
        step_A: float = 0.0,
        overload: bool = False,
        keithley: bool = False,
    ):
        self.idn = idn
        self.measure_query = measure_query
        self.current_A = current_A
        self.step_A = step_A
        self.overload = overload
        self.keithley = keithley
        self.served: list[float] = []
        self._inbuf = b""

    def driver_options(self) -> dict[str, Any]:
        return {} if self.measure_query == "READ?" else {"measure_query": self.measure_query}

    def reset_link(self) -> None:
        self._inbuf = b""

    def receive(self, data: bytes, now: float) -> bytes:
        self._inbuf += data
        out = b""
        while b"\n" in self._inbuf:
            line, _, self._inbuf = self._inbuf.partition(b"\n")
            text = line.decode("ascii", "replace").strip()
            if text.upper() == "*IDN?":
                out += self.idn.encode("ascii") + b"\n"
            elif text.upper() == self.measure_query.upper():
                if self.overload:
                    out += b"+9.9E37\n"
                    continue
                value = self.current_A + len(self.served) * self.step_A
                self.served.append(value)
                if self.keithley:  # Keithley 6514/6517B with READing,TSTamp,RNUMber and UNITs on
                    n = len(self.served)
                    out += f"{value:+.6E}NADC,{n * 0.5:+011.2f}secs,{n:+06d}RDNG#\n".encode("ascii")
                else:
                    out += f"{value:+.6E}".encode("ascii") + b"\n"
        self._inbuf = self._inbuf[-512:]
        return out

    def garble(self, reply: bytes) -> bytes:
        return b"#\x15" + reply.replace(b"E", b"?") if reply else reply


def resource_of(emulator: PtyEmulator) -> str:
    return f"ASRL{emulator.port}::INSTR"
