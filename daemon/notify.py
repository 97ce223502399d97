"""sd_notify, spoken by the daemon itself (no libsystemd needed).

systemd passes ``NOTIFY_SOCKET`` (a path, or ``@name`` for the abstract
namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC`` (and ``WATCHDOG_PID``).
Each message is one datagram of ``KEY=value`` lines. Without ``NOTIFY_SOCKET``
every call is a no-op, so the daemon runs the same under a shell.

:class:`Watchdog` sends ``WATCHDOG=1`` every half watchdog interval, but only
while the daemon is healthy: the event loop answers on time (a blocked loop
cannot run the ping at all, and a late one is caught by the lag check) and
every enabled meter task has shown a sign of life recently. A meter task that
is retrying an absent meter is alive; only one that makes no progress at all
is not. When a check fails the pings stop and systemd restarts the service.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping

import structlog

log = structlog.get_logger("radsurvey.notify")


class Notifier:
    """Sends sd_notify datagrams to ``NOTIFY_SOCKET``; silent without it."""

    def __init__(self, environ: Mapping[str, str] | None = None):
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        self.watchdog_s: float | None = None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self._sock: socket.socket | None = None
        self._stopping_sent = False
        self.sent: list[str] = []  # for status and tests; bounded below

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, **fields: str) -> bool:
        """Send one message (``send(READY="1", STATUS="...")``); False if it could not be sent."""
        if self.address is None:
            return False
        message = "\n".join(f"{k}={v.replace(chr(10), ' ')}" for k, v in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self.address)
        except OSError as err:
            log.warning("sd_notify failed", error=str(err))
            return False
        self.sent.append(message)
        del self.sent[:-100]
        return True

    def ready(self, status: str) -> bool:
        return self.send(READY="1", STATUS=status)

    def status(self, status: str) -> bool:
        return self.send(STATUS=status)

    def stopping(self) -> bool:
        if self._stopping_sent:
            return True
        self._stopping_sent = True
        return self.send(STOPPING="1", STATUS="stopping")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Heartbeats:
    """Last sign of life per acquisition task (see :func:`meter_heartbeats`)."""

    def __init__(self, limits_s: Mapping[str, float], now: Callable[[], float] = time.monotonic):
        self.limits_s = dict(limits_s)
        self.now = now
        start = now()
        self.last = {name: start for name in limits_s}

    def beat(self, name: str) -> None:
        if name in self.last:
            self.last[name] = self.now()

    def silent(self) -> list[str]:
        """Tasks that have been silent longer than their limit."""
        t = self.now()
        return [name for name, last in self.last.items() if t - last > self.limits_s[name]]


def meter_heartbeats(daemon, *, floor_s: float = 120.0) -> Heartbeats:  # type: ignore[no-untyped-def]
    """Heartbeats of the daemon's meter tasks, fed by every sign of life of each task.

    A task retrying an unplugged meter shows life at every attempt and backoff
    tick, so it stays healthy; only a task that makes no progress for twice its
    longest bounded wait (and at least ``floor_s``) counts as silent.
    """
    from radsurvey.drivers.runner import longest_silence_s

    heartbeats = Heartbeats(
        {
            f"meter:{m.id}": max(floor_s, 2 * longest_silence_s(m, daemon.alive_every_s))
            for m in daemon.cfg.meters
            if m.enabled
        }
    )
    daemon.observers.meter_alive.append(lambda meter: heartbeats.beat(f"meter:{meter}"))
    return heartbeats


class Watchdog:
    """Pings systemd's watchdog while the loop is responsive and every meter task is alive."""

    def __init__(
        self,
        notifier: Notifier,
        heartbeats: Heartbeats,
        *,
        status: Callable[[], str] = lambda: "",
        max_loop_lag_s: float | None = None,
    ):
        self.notifier = notifier
        self.heartbeats = heartbeats
        self.status = status
        self.interval_s = (notifier.watchdog_s or 10.0) / 2
        # A loop late by more than half the interval would let the watchdog fire anyway.
        self.max_loop_lag_s = max_loop_lag_s if max_loop_lag_s is not None else self.interval_s / 2
        self.unhealthy: str | None = None

    def check(self, lag_s: float) -> str | None:
        """Why the daemon is unhealthy now, or None."""
        if lag_s > self.max_loop_lag_s:
            return f"event loop {lag_s:.2f} s late"
        silent = self.heartbeats.silent()
        if silent:
            return f"no sign of life from {', '.join(sorted(silent))}"
        return None

    async def run(self) -> None:
        """Until cancelled: pings (with a STATUS line) while healthy; only STATUS without a watchdog."""
        if not self.notifier.enabled:
            return
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            problem = self.check(loop.time() - expected)
            if problem != self.unhealthy:
                if problem:
                    log.error("unhealthy: watchdog pings stop", reason=problem)
                else:
                    log.info("healthy again: watchdog pings resume")
                self.unhealthy = problem
            if problem is None:
                fields = {"WATCHDOG": "1"} if self.notifier.watchdog_s else {}
                summary = self.status()
                if summary:
                    fields["STATUS"] = summary
                if fields:
                    self.notifier.send(**fields)
            else:
                self.notifier.status(f"unhealthy: {problem}")


def status_line(daemon) -> str:  # type: ignore[no-untyped-def]
    """One line for ``systemctl status``: meters, channels, alarms, journal."""
    meters = [m.id for m in daemon.cfg.meters if m.enabled]
    connected = sum(1 for m in meters if (s := daemon.meter_states.get(m)) is not None and s.state == "connected")
    parts = [f"{connected}/{len(meters)} meters connected", f"{len(daemon.pipelines)} channels"]
    for service in daemon.services:
        current = getattr(service, "current", None)
        if callable(current):
            states = [r["state"] for r in current()]
            counts = {s: states.count(s) for s in ("alarm", "fault", "warning") if s in states}
            parts.append("alarms: " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "all normal"))
    parts.append(f"{daemon.readings_seen} readings, journal seq {daemon.journal.committed_seq}")
    return "; ".join(parts)
