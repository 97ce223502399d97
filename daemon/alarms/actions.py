"""Local actions: run a configured program on every alarm state change.

For a relay, a buzzer or a warning light. The program gets an argv list (no
shell), a timeout, and the alarm's fields in its environment
(``RADSURVEY_ALARM_STATE`` ...). Commands run one at a time in the order of the
changes, so the last one run reflects the last state. A failure (cannot start,
non-zero exit, timeout) is logged and reported to ``on_result``, which turns it
into a fault; it never stops the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

import structlog

from radsurvey.config.alarms import CommandAction

from .engine import Event
from .records import iso

log = structlog.get_logger("radsurvey.alarms.actions")

# Only these are passed through from the daemon's environment: secrets such as
# RADSURVEY_MQTT_PASSWORD must not reach a helper script.
_PASSED = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


def alarm_environment(ev: Event) -> dict[str, str]:
    env = {k: os.environ[k] for k in _PASSED if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    fields = {
        "EVENT": ev.event,
        "CHANNEL": ev.channel,
        "RULE": ev.rule,
        "KIND": ev.kind,
        "STATE": ev.state.value,
        "PREVIOUS": ev.previous.value,
        "VALUE": "" if ev.value is None else repr(ev.value),
        "LEVEL": repr(ev.level),
        "UNIT": ev.unit,
        "SINCE": iso(ev.since) or "",
        "TS": iso(ev.t) or "",
        "ACKNOWLEDGED": "1" if ev.acknowledged else "0",
        "ACKNOWLEDGED_BY": ev.acknowledged_by or "",
        "LATCHED": "1" if ev.latched else "0",
    }
    env.update({f"RADSURVEY_ALARM_{k}": v for k, v in fields.items()})
    return env


class CommandRunner:
    """Runs the configured command for each submitted event, sequentially."""

    def __init__(self, action: CommandAction | None, *, on_result: Callable[[Event, bool, str], None]):
        self.action = action
        self.on_result = on_result
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)
        self.runs = 0

    def submit(self, ev: Event) -> None:
        if self.action is None or ev.state.value not in self.action.states:
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            log.error("alarm command queue full; change not signalled", channel=ev.channel, rule=ev.rule)

    async def run(self) -> None:
        if self.action is None:
            return
        while True:
            ev = await self._queue.get()
            ok, detail = await self.execute(ev)
            self.runs += 1
            self.on_result(ev, ok, detail)

    async def execute(self, ev: Event) -> tuple[bool, str]:
        assert self.action is not None
        argv = self.action.argv
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                env=alarm_environment(ev),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as err:
            return False, f"cannot start {argv[0]}: {err.strerror or err}"
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.action.timeout_s)
        except TimeoutError:
            await _kill_group(proc)
            return False, f"{argv[0]} did not finish within {self.action.timeout_s:g} s (killed)"
        except asyncio.CancelledError:
            await _kill_group(proc)
            raise
        text = out.decode(errors="replace").strip()[-500:]
        if proc.returncode != 0:
            return False, f"{argv[0]} exited with {proc.returncode}: {text}"
        log.info("alarm command ran", channel=ev.channel, rule=ev.rule, state=ev.state.value, output=text)
        return True, text


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the command and everything it started (its own session: the process group is its pid)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # the group is already gone
        pass
    # A child that escaped the group could keep stdout open; wait for our process only.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(proc.wait(), 5.0)
