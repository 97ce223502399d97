"""A text-line meter, device side: prints a profile's lines on a pty.

The line format comes from the profile's ``[emulator]`` table (``banner``,
``stock_banner``, ``line`` with ``{cps}``, ``{cpm}``, ``{usv}``), so every shipped
profile can be tried without hardware. Streams every ``period_s``, or answers
``poll_command`` when one is given.

Modes: ``stock_banner`` prints the profile's stock-firmware banner (MightyOhm 1.00:
no ``#``); ``brown_out_every = N`` resets the meter after every N reports, cutting
the report in progress short and printing the banner again, as a weak battery
does; ``power_on_after_s`` keeps the meter off (silent) that long after start,
then it powers on with a stray byte and its banner.
"""

from __future__ import annotations

import random
from typing import Any

from ..emulator import DeviceModel
from .codec import load_profile


class AsciiDevice(DeviceModel):
    """Args:
    profile: a shipped profile with an [emulator] table.
    cpm: mean counts per minute; with ``step`` the n-th line has exactly ``cpm + n*step``.
    period_s: streaming period.
    poll_command: answer this text (ending in a newline) instead of streaming.
    lines: send these lines (each ends with CR LF) in turn instead of the profile's format, over and over:
        a meter saying what no meter should (``V 1e300``, ``V -5``).
    """

    def __init__(
        self,
        *,
        profile: str = "mightyohm",
        cpm: int = 60,
        step: int = 0,
        seed: int = 0,
        period_s: float = 1.0,
        poll_command: str | None = None,
        stock_banner: bool = False,
        brown_out_every: int = 0,
        power_on_after_s: float = 0.0,
        lines: list[str] | None = None,
    ):
        self.profile = profile
        self.lines = list(lines or [])
        emu = load_profile(profile).get("emulator")
        if not emu or "line" not in emu:
            raise ValueError(f"profile {profile!r} has no [emulator] line format")
        self.line_format: str = emu["line"]
        self.banner: str = emu.get("banner", "")
        if stock_banner:
            if "stock_banner" not in emu:
                raise ValueError(f"profile {profile!r} has no stock-firmware banner")
            self.banner = emu["stock_banner"]
        self.brown_out_every = brown_out_every
        self.power_on_after_s = power_on_after_s
        self._start: float | None = None
        self.usv_per_cpm: float = float(emu.get("usv_per_cpm", 0.0))
        self.cpm, self.step, self.period_s = cpm, step, period_s
        self.poll_command = poll_command.encode("ascii") if poll_command else None
        self.rng = random.Random(seed)
        self.cpm_sent: list[int] = []
        self._next = 0.0
        self._banner_due = True
        self._inbuf = b""

    def driver_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"profile": self.profile}
        if self.poll_command is not None:
            options["poll_command"] = self.poll_command.decode("ascii")
        elif self.period_s > 2.5:  # the driver waits 3 s for a streamed line by default
            options["timeout_s"] = min(60.0, 2 * self.period_s)
        return options

    def reset_link(self) -> None:
        self._banner_due = True
        self._inbuf = b""

    def _line(self) -> bytes:
        n = len(self.cpm_sent)
        if self.lines:
            self.cpm_sent.append(n)  # counts the lines sent
            return f"{self.lines[n % len(self.lines)]}\r\n".encode("ascii")
        cpm = self.cpm + n * self.step if self.step else max(0, round(self.rng.gauss(self.cpm, self.cpm**0.5)))
        self.cpm_sent.append(cpm)
        return self.line_format.format(cps=cpm // 60, cpm=cpm, usv=cpm * self.usv_per_cpm).encode("ascii")

    def receive(self, data: bytes, now: float) -> bytes:
        if self.poll_command is None:
            return b""
        self._inbuf += data
        out = b""
        while self.poll_command in self._inbuf:
            _, _, self._inbuf = self._inbuf.partition(self.poll_command)
            out += self._line()
        self._inbuf = self._inbuf[-256:]
        return out

    def tick(self, now: float) -> bytes:
        if self._start is None:
            self._start = now
        if now - self._start < self.power_on_after_s:
            return b""  # switched off
        out = b""
        if self._banner_due:
            self._banner_due = False
            if self.power_on_after_s:
                out += b"\x00"  # the UART's line settling at power-on
            out += self.banner.encode("ascii")
            self._next = now + self.period_s
        if self.poll_command is None and now >= self._next:
            self._next = max(self._next + self.period_s, now)
            line = self._line()
            if self.brown_out_every and len(self.cpm_sent) % self.brown_out_every == 0:
                # the supply dips mid-report: half a line, then the reset's banner
                out += line[: len(line) // 2] + self.banner.encode("ascii")
                self._next = now + self.period_s
            else:
                out += line
        return out

    def garble(self, reply: bytes) -> bytes:
        return b"C\xffS, ?" + reply[5:].replace(b",", b";")
