"""The supervisor: one TaskGroup that owns every task of a running daemon.

Meters feed readings in; each reading is journaled, turned into samples by the
pipelines of its channels, journaled again, and shown to observers (the console,
and later sinks and alarms through the journal). Stopping is one event: SIGINT,
SIGTERM or ``--duration`` set it, every task is cancelled, and the journal
commits what it holds and records a clean end of the run.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import structlog

from radsurvey.config.schema import DaemonConfig
from radsurvey.drivers.base import Conversion, Reading, Status
from radsurvey.drivers.runner import ALIVE_EVERY_S, MeterState, run_meter

from .journal import Journal, ReadError
from .pipeline import ChannelPipeline, Sample, implausible, plausible_range

log = structlog.get_logger("radsurvey.supervisor")
IMPLAUSIBLE_LOG_EVERY_S = 60.0  # a meter sending nonsense every poll logs one warning a minute


class Service(Protocol):
    """Anything the supervisor runs beside the meters (sinks, alarm engine, ...)."""

    name: str

    async def run(self, daemon: Daemon) -> None: ...


@dataclass
class Observers:
    samples: list[Callable[[Sample], None]] = field(default_factory=list)
    readings: list[Callable[[Reading, int], None]] = field(default_factory=list)
    meter_states: list[Callable[[MeterState], None]] = field(default_factory=list)
    # meter id, at every sign of life of its task: a reading, a failed read, a retry, a backoff tick
    meter_alive: list[Callable[[str], None]] = field(default_factory=list)


class Daemon:
    """A configured daemon: meters, channel pipelines, journal and services."""

    def __init__(
        self,
        cfg: DaemonConfig,
        journal: Journal,
        *,
        services: list[Service] | None = None,
        alive_every_s: float = ALIVE_EVERY_S,
    ):
        self.cfg = cfg
        self.alive_every_s = alive_every_s
        self.journal = journal
        self.services: list[Service] = list(services or [])
        self.observers = Observers()
        self.pipelines: dict[str, ChannelPipeline] = {}
        self.by_meter: dict[str, list[ChannelPipeline]] = {}
        for ch in cfg.channels:
            pipeline = ChannelPipeline(ch)
            self.pipelines[ch.id] = pipeline
            self.by_meter.setdefault(ch.meter, []).append(pipeline)
        self.meter_states: dict[str, MeterState] = {}
        self.stop_event = asyncio.Event()
        self.stop_requested_at: float | None = None  # loop time of SIGTERM/SIGINT/--duration
        self.readings_seen = 0
        self._drivers = {m.id: m.driver for m in cfg.meters}
        self._implausible_logged: dict[str, float] = {}

    # -- the data path (runs on the event loop; must never block) ---------------------

    def on_reading(self, reading: Reading) -> None:
        self.readings_seen += 1
        reading = self._judge_plausible(reading)
        reading_seq = self.journal.append_reading(reading)
        for observer in self.observers.readings:
            observer(reading, reading_seq)
        for pipeline in self.by_meter.get(reading.meter, ()):
            sample = pipeline.process(reading, reading_seq)
            if sample is None:
                continue
            sample = sample.with_seq(self.journal.append_sample(sample))
            pipeline.last = sample
            for sample_observer in self.observers.samples:
                sample_observer(sample)

    def _judge_plausible(self, reading: Reading) -> Reading:
        """A value outside a channel's plausible range becomes a ``fault`` reading: journaled for audit, never
        turned into a sample (so never into E, alarms, aggregates or the dose record)."""
        if Status.FAULT in reading.status:
            return reading
        state = self.meter_states.get(reading.meter)
        identity = state.identity.model if state is not None and state.identity is not None else None
        driver = self._drivers.get(reading.meter)
        for pipeline in self.by_meter.get(reading.meter, ()):
            why = implausible(reading, *plausible_range(pipeline.cfg, driver, identity))
            if why is None:
                continue
            now = time.monotonic()
            if now - self._implausible_logged.get(reading.meter, -math.inf) >= IMPLAUSIBLE_LOG_EVERY_S:
                self._implausible_logged[reading.meter] = now
                log.warning("implausible reading kept as a fault, not used", meter=reading.meter, reason=why)
            return replace(
                reading,
                status=reading.status | {Status.FAULT},
                conversions=(
                    *reading.conversions,
                    Conversion("implausible", detail=f"channel {pipeline.cfg.id}: {why}"),
                ),
            )
        return reading

    def on_meter_state(self, state: MeterState) -> None:
        self.meter_states[state.meter] = state
        self.journal.append_meter_event(state)
        for observer in self.observers.meter_states:
            observer(state)

    def on_meter_alive(self, meter: str) -> None:
        for observer in self.observers.meter_alive:
            observer(meter)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self, *, extra: list[Callable[[], Coroutine[Any, Any, None]]] | None = None) -> None:
        """Run until :attr:`stop_event` is set, then cancel everything and return."""
        log.info(
            "daemon starting",
            site=self.cfg.site.id,
            meters=[m.id for m in self.cfg.meters if m.enabled],
            channels=list(self.pipelines),
            journal=str(self.journal.path),
        )

        meter_tasks: list[asyncio.Task[None]] = []

        async def _stopper() -> None:
            await self.stop_event.wait()
            for task in meter_tasks:  # nothing new comes in while the sinks drain
                task.cancel()
            await self.drain(self.cfg.shutdown.drain_s)
            raise _Stop

        try:
            async with asyncio.TaskGroup() as tg:
                for meter in self.cfg.meters:
                    if meter.enabled:
                        meter_tasks.append(
                            tg.create_task(
                                run_meter(
                                    meter,
                                    on_reading=self.on_reading,
                                    on_state=self.on_meter_state,
                                    on_alive=functools.partial(self.on_meter_alive, meter.id),
                                    alive_every_s=self.alive_every_s,
                                ),
                                name=f"meter:{meter.id}",
                            )
                        )
                for service in self.services:
                    tg.create_task(service.run(self), name=f"service:{service.name}")
                for factory in extra or []:
                    tg.create_task(factory())
                tg.create_task(_stopper(), name="stopper")
        except* _Stop:
            pass
        except* ReadError as group:
            # A task read a damaged page of the journal (SQLITE_CORRUPT / SQLITE_NOTADB): the journal reports it
            # (cli/run.py sets the file aside and goes on in a fresh one) rather than the daemon crash-looping.
            if not all(self.journal.report_if_corrupt(err) for err in _leaves(group)):
                raise
        log.info(
            "daemon stopped" if self.journal.damage is None else "daemon stopped: its journal is damaged",
            readings=self.readings_seen,
        )

    async def drain(self, limit_s: float) -> None:
        """Give the connected sinks up to ``limit_s`` to publish everything committed, then return.

        What is appended but not committed is committed first (within the same
        limit); a journal that cannot commit (disk full) is not waited for, and a
        sink that is not connected is not waited for: its cursor keeps the rest.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        if limit_s <= 0:
            return
        if self.journal.last_error is None and self.journal.damage is None:
            await asyncio.to_thread(self.journal.flush, limit_s)
        target = self.journal.committed_seq
        sinks = [s for s in self.services if hasattr(s, "cursor") and hasattr(s, "connected")]

        def behind() -> list[Any]:
            return [s for s in sinks if s.connected and s.cursor < target]

        # Polled: the sinks' cursors move in their own tasks and they have no event for "caught up".
        while True:
            if not behind() or loop.time() >= deadline:
                break
            await asyncio.sleep(0.02)
        late = behind()
        log.info(
            "sinks drained" if not late else "sinks not drained in time; they resume from their cursor",
            committed_seq=target,
            limit_s=limit_s,
            behind={s.name: target - s.cursor for s in late},
            not_connected=[s.name for s in sinks if not s.connected],
        )


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    """The exceptions in ``group`` and in the groups nested in it."""
    out: list[BaseException] = []
    for err in group.exceptions:
        out.extend(_leaves(err) if isinstance(err, BaseExceptionGroup) else [err])
    return out


class _Stop(Exception):
    """Raised inside the TaskGroup to cancel every task on a stop request."""


def resolve_journal_path(cfg: DaemonConfig, override: Path | None = None) -> Path:
    import os

    if override is not None:
        return override
    return cfg.journal.resolved_path(os.environ.get("STATE_DIRECTORY", "").split(":")[0] or None)
