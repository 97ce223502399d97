"""Keep one meter connected and reading, whatever it does.

``run_meter`` opens the meter's driver, streams its readings to ``on_reading``
and reports every change of connection state to ``on_state``. When the meter
fails (unplugged, timeouts, garbage) it is marked disconnected with the reason
and reopened with a delay that doubles up to a cap; the daemon never restarts
for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from radsurvey.config.schema import MeterConfig
from radsurvey.protocols.errors import MeterError

from . import registry
from .base import MeterIdentity, Reading, utc_now

log = structlog.get_logger("radsurvey.meter")


@dataclass(frozen=True)
class MeterState:
    """A meter's connection state at one moment."""

    meter: str
    state: str  # connecting | connected | disconnected | stale | error
    ts: datetime = field(default_factory=utc_now)
    reason: str = ""
    identity: MeterIdentity | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 60.0

    def delays(self) -> Any:
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


async def run_meter(
    cfg: MeterConfig,
    *,
    on_reading: Callable[[Reading], None],
    on_state: Callable[[MeterState], None],
    backoff: Backoff = Backoff(),
) -> None:
    """Run until cancelled. Configuration errors propagate; meter errors do not."""
    delays = backoff.delays()
    while True:
        on_state(MeterState(cfg.id, "connecting"))
        try:
            driver = registry.create(
                cfg.driver, meter_id=cfg.id, poll_interval_s=cfg.poll_interval_s, options=cfg.options
            )
            async with driver:
                on_state(MeterState(cfg.id, "connected", identity=driver.identity))
                log.info("meter connected", meter=cfg.id, **driver.identity.as_dict())
                delays = backoff.delays()
                async for reading in driver.stream():
                    on_reading(reading)
            reason = "meter closed the stream"
        except MeterError as err:
            reason = str(err)
        except OSError as err:  # the port vanished under pyserial or the socket died
            reason = f"{type(err).__name__}: {err}"
        delay = next(delays)
        on_state(MeterState(cfg.id, "disconnected", reason=reason, detail={"retry_in_s": delay}))
        log.warning("meter disconnected", meter=cfg.id, reason=reason, retry_in_s=delay)
        await asyncio.sleep(delay)
