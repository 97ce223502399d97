"""Keep one meter connected and reading, whatever it does.

``run_meter`` opens the meter's driver, passes its readings to ``on_reading``
and reports every change of state to ``on_state``:

``connecting`` -> ``connected`` -> (``error`` | ``stale``)* -> ``disconnected`` -> ``connecting`` ...

* ``error``: a reply timed out or was garbled. One bad reply is not a
  disconnect; a streak of them is. Timeouts and garbled replies count in the
  same streak (a meter that alternates garbage and silence is still failing),
  which only a good reading ends; it becomes a disconnect once it holds
  ``max_timeouts`` timeouts or ``max_garbage`` garbled replies. One event per
  episode (every bad reply is logged); the episode ends after three good
  readings in a row.
* ``disconnected``: unplugged, the port vanished, an error streak, or the
  driver raised something outside its contract (a bug: logged with its
  traceback, and only this meter is affected); the reason says which. The
  meter is reopened after a delay that doubles from ``backoff_initial_s`` up
  to ``backoff_max_s``; the daemon never restarts for it. The port identity
  (by-id path, ``usb = "VID:PID[:serial]"``) is resolved again at each
  attempt by the driver.
* ``stale``: no fresh reading for ``stale_after_s``, or the meter's value
  frozen for ``frozen_after_s`` while it should be counting. Frozen readings
  are still journaled (they are what the meter said) but carry the ``stale``
  status flag, which the pipeline does not turn into samples.
* back to ``connected`` (reason ``recovered``) at the next fresh reading after
  ``stale``, or after three good ones after ``error``.

An episode of trouble goes ``error`` -> ``stale`` at most: an ``error`` episode
that lasts ``stale_after_s`` becomes ``stale``, but a ``stale`` meter does not
go back to ``error`` on its next bad reply, so a meter that keeps failing makes
a handful of events, not one per read. Consecutive events with the same state
and reason are reported once.

Liveness: ``on_alive`` is called at every connect attempt, after every read
(good or bad) and at least every ``alive_every_s`` while the task waits
(between polls, and during the reconnect backoff). A meter that stays
unplugged is therefore alive: it is retrying. Only a task that makes no
progress at all stops calling it, which is what the systemd watchdog is for.

Timeouts use ``asyncio.timeout`` rather than ``asyncio.wait_for``: on Python 3.11
``wait_for`` can swallow a cancellation that arrives as the inner call finishes,
and a meter task that ignores its cancellation would keep the daemon from stopping.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from radsurvey.config.connection import ConnectionConfig
from radsurvey.config.schema import MeterConfig
from radsurvey.protocols.backoff import Backoff
from radsurvey.protocols.errors import ConfigError, FrameError, MeterError

from . import registry
from .base import Driver, MeterIdentity, Reading, Status, utc_now
from .errors import MeterGone, MeterTimeout

log = structlog.get_logger("radsurvey.meter")

RECOVER_AFTER_GOOD = 3  # good readings in a row that end an 'error' episode
ALIVE_EVERY_S = 5.0  # longest wait between two signs of life of a waiting meter task


@dataclass(frozen=True)
class MeterState:
    """A meter's connection state at one moment."""

    meter: str
    state: str  # connecting | connected | error | stale | disconnected
    ts: datetime = field(default_factory=utc_now)
    reason: str = ""
    identity: MeterIdentity | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class _Disconnect(Exception):
    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class _DriverFault(Exception):
    """A driver raised something other than MeterError: a bug in it, but one meter's problem."""

    def __init__(self, error: Exception):
        self.error = error
        super().__init__(f"driver error: {type(error).__name__}: {error}")


class _States:
    """Forward state changes, dropping exact repeats (same state and reason)."""

    def __init__(self, meter: str, sink: Callable[[MeterState], None]):
        self.meter = meter
        self.sink = sink
        self.last: tuple[str, str] | None = None

    @property
    def current(self) -> str | None:
        return self.last[0] if self.last else None

    def emit(self, state: str, reason: str = "", **kw: Any) -> None:
        if self.last == (state, reason):
            return
        self.last = (state, reason)
        self.sink(MeterState(self.meter, state, reason=reason, **kw))


def _streak_text(timeouts: int, garbage: int) -> str:
    kinds = [f"{garbage} garbled replies" if garbage else "", f"{timeouts} timeouts" if timeouts else ""]
    return " and ".join(k for k in kinds if k) + " in a row"


class FrozenWatch:
    """Whether a counting meter's value has stopped changing for ``after_s``."""

    def __init__(self, after_s: float | None):
        self.after_s = after_s
        self.value: float | None = None
        self.since: float = 0.0
        self.count = 0

    def frozen(self, value: float | None, now: float) -> bool:
        if self.after_s is None or value is None:
            return False
        if value != self.value:
            self.value, self.since, self.count = value, now, 1
            return False
        self.count += 1
        return self.count >= 3 and now - self.since >= self.after_s


def longest_silence_s(cfg: MeterConfig, alive_every_s: float = ALIVE_EVERY_S) -> float:
    """Longest a healthy meter task goes without calling ``on_alive``: its longest bounded wait."""
    conn = cfg.connection
    return max(float(conn.connect_timeout_s), float(conn.read_timeout_s), alive_every_s)


async def _sleep_alive(delay_s: float, alive: Callable[[], None], every_s: float) -> None:
    """Sleep ``delay_s``, calling ``alive`` now and at least every ``every_s``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + delay_s
    while True:
        alive()
        remaining = end - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(remaining, every_s))


def stale_after_s(cfg: MeterConfig) -> float:
    conn = cfg.connection
    if conn.stale_after_s is not None:
        return float(conn.stale_after_s)
    return max(10.0, 10 * float(cfg.poll_interval_s))


async def run_meter(
    cfg: MeterConfig,
    *,
    on_reading: Callable[[Reading], None],
    on_state: Callable[[MeterState], None],
    on_alive: Callable[[], None] | None = None,
    alive_every_s: float = ALIVE_EVERY_S,
    backoff: Backoff | None = None,
    create: Callable[..., Driver] | None = None,
) -> None:
    """Run until cancelled. Configuration errors propagate; meter errors and driver bugs never do.

    Args:
        on_alive: called at every sign of life of this task (see the module docstring).
        alive_every_s: the longest a waiting task goes without calling ``on_alive``.
    """
    conn = cfg.connection
    alive = on_alive or (lambda: None)
    backoff = backoff or Backoff(conn.backoff_initial_s, conn.backoff_max_s)
    # One transport connector per meter, given to every driver opened for it: what it
    # learns (the line speed the meter answered at) outlives one connection.
    try:
        connector = registry.connector(cfg.driver, cfg.options)
    except ConfigError:
        if create is None:  # a real driver with bad options: the config check's business, say it here too
            raise
        connector = None  # a test's own driver factory under a name the registry does not know
    create = create or registry.create
    states = _States(cfg.id, on_state)
    backoff.reset()
    attempt = 0
    while True:
        attempt += 1
        alive()
        if attempt == 1:  # retries of a meter that is still away are not news
            states.emit("connecting")
        driver = create(
            cfg.driver, meter_id=cfg.id, poll_interval_s=cfg.poll_interval_s, options=cfg.options, connector=connector
        )
        try:
            await _open(driver, conn)
            states.emit("connected", identity=driver.identity, detail={"attempt": attempt})
            log.info("meter connected", meter=cfg.id, attempt=attempt, **driver.identity.as_dict())
            backoff.reset()
            attempt = 0
            reason = await _acquire(driver, cfg, on_reading, states, alive, alive_every_s)
        except _Disconnect as stop:
            reason = stop.reason
        except ConfigError:
            raise
        except MeterError as err:
            reason = str(err)
        except OSError as err:  # the port vanished under pyserial or a socket died
            reason = f"{type(err).__name__}: {err}"
        except _DriverFault as fault:
            reason = str(fault)
            if states.last != ("disconnected", reason):
                log.error("driver failed", meter=cfg.id, error=reason, exc_info=fault.error)
        finally:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await driver.close()
        delay = backoff.take()
        if states.current != "disconnected" or (states.last and states.last[1] != reason):
            log.warning("meter disconnected", meter=cfg.id, reason=reason, retry_in_s=delay)
        else:
            log.debug("meter still away", meter=cfg.id, reason=reason, attempt=attempt, retry_in_s=delay)
        states.emit("disconnected", reason=reason, detail={"retry_in_s": delay})
        await _sleep_alive(delay, alive, alive_every_s)


async def _open(driver: Driver, conn: ConnectionConfig) -> None:
    try:
        async with asyncio.timeout(conn.connect_timeout_s):
            await driver.__aenter__()
    except TimeoutError:
        raise MeterTimeout(f"no answer to open/identify within {conn.connect_timeout_s:g} s") from None
    except (MeterError, ConfigError, OSError):
        raise
    except Exception as err:
        raise _DriverFault(err) from err


async def _acquire(
    driver: Driver,
    cfg: MeterConfig,
    on_reading: Callable[[Reading], None],
    states: _States,
    alive: Callable[[], None],
    alive_every_s: float,
) -> str:
    """Read until the meter has to be reopened; return the reason."""
    conn = cfg.connection
    loop = asyncio.get_running_loop()
    stale_s = stale_after_s(cfg)
    frozen = FrozenWatch(conn.frozen_after_s if conn.frozen_after_s is not None else driver.frozen_after_s_default)
    last_fresh = loop.time()
    next_at = loop.time()
    timeouts = garbage = good = 0

    def trouble(reason: str, **kw: Any) -> None:
        # One event per episode: not again while in 'error', and never back from 'stale'.
        if states.current not in ("error", "stale"):
            states.emit("error", reason=reason, **kw)

    while True:
        try:
            async with asyncio.timeout(conn.read_timeout_s):
                reading = await driver.read()
        except FrameError as err:
            garbage += 1
            raw = err.raw[:32].hex()
            log.warning("garbled reply", meter=cfg.id, error=str(err), raw=raw, streak=timeouts + garbage)
            good = 0
            if garbage >= conn.max_garbage:
                return f"{_streak_text(timeouts, garbage)}: {err.message}"
            trouble(f"garbled reply: {err.message}", detail={"raw": raw})
        except (MeterTimeout, TimeoutError) as err:  # before OSError: TimeoutError is one
            timeouts += 1
            message = err.message if isinstance(err, MeterError) else f"read took over {conn.read_timeout_s:g} s"
            log.warning("meter timeout", meter=cfg.id, error=message, streak=timeouts + garbage)
            good = 0
            if timeouts >= conn.max_timeouts:
                return f"{_streak_text(timeouts, garbage)}: {message}"
            trouble(f"timeout: {message}")
        except (MeterGone, OSError) as err:
            return str(err)
        except (MeterError, ConfigError):
            raise
        except Exception as err:
            raise _DriverFault(err) from err
        else:
            timeouts = garbage = 0
            good += 1
            now = loop.time()
            if frozen.frozen(reading.meter_value, now):
                reading = replace(reading, status=reading.status | {Status.STALE})
                if states.current != "stale":
                    states.emit(
                        "stale", reason=f"value frozen at {reading.meter_value:g} for over {frozen.after_s:g} s"
                    )
                    log.warning("meter value frozen", meter=cfg.id, value=reading.meter_value)
            else:
                last_fresh = now
                # Out of 'error' only after a few good replies in a row, so that a meter that
                # fails every other read is one episode, not two journal events per second.
                if states.current == "stale" or (states.current == "error" and good >= RECOVER_AFTER_GOOD):
                    states.emit("connected", reason="recovered", identity=driver.identity)
                    log.info("meter recovered", meter=cfg.id)
            on_reading(reading)
        now = loop.time()
        if now - last_fresh > stale_s and states.current != "stale":
            states.emit("stale", reason=f"no fresh reading for {now - last_fresh:.0f} s")
            log.warning("meter stale", meter=cfg.id, seconds=round(now - last_fresh, 1))
        if driver.self_paced:
            alive()
            await asyncio.sleep(0)
            continue
        next_at += cfg.poll_interval_s
        delay = next_at - loop.time()
        if delay < 0:
            next_at = loop.time()
            delay = 0
        await _sleep_alive(delay, alive, alive_every_s)
