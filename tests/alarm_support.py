"""Helpers for alarm tests: a daemon with the alarm service, fed readings with chosen timestamps."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from radsurvey.config import parse_config
from radsurvey.config.schema import DaemonConfig
from radsurvey.daemon import journal as jr
from radsurvey.daemon.alarms.service import AlarmService
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.supervisor import Daemon, Service
from radsurvey.drivers.base import Quantity, Reading

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()


def make_config(
    tmp_path: Path,
    rules: list[dict[str, Any]],
    *,
    retention: dict[str, Any] | None = None,
    mqtt: dict[str, Any] | None = None,
    **alarms: Any,
) -> DaemonConfig:
    """One disabled simulated meter and channel ``desk`` (category 1) with ``rules``."""
    return parse_config(
        {
            "retention": retention or {},
            **({"mqtt": mqtt} if mqtt is not None else {}),
            "site": {"id": "t"},
            "journal": {"path": str(tmp_path / "j.sqlite"), "commit_interval_s": 0.02},
            # The meter is not started: the test feeds readings with chosen timestamps.
            "meters": [{"id": "m", "driver": "simulated", "enabled": False}],
            "channels": [
                {"id": "desk", "meter": "m", "room_category": 1, "averaging_window_s": 0.001, "alarms": rules}
            ],
            "alarms": {"tick_interval_s": 60, "ack_poll_interval_s": 0.02, **alarms},
        },
        environ={},
    )


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@asynccontextmanager
async def running(
    cfg: DaemonConfig, clock: Clock, *, extra: list[Service] | None = None
) -> AsyncIterator[tuple[Daemon, AlarmService]]:
    journal = Journal(cfg.journal.path, commit_interval_s=0.02)
    service = AlarmService(cfg, now=clock, clock_synchronised=lambda: True)
    daemon = Daemon(cfg, journal, services=[service, *(extra or [])])
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(service.ready.wait(), 10)
        yield daemon, service
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 10)
        journal.close()


def feed(daemon: Daemon, clock: Clock, start: float, end: float, e_uSv_h: float) -> None:
    """One reading per second on (start, end]; E = 0.5 x D (formula 4), so D = 2E."""
    t = start
    while t < end:
        t += 1
        clock.t = t
        daemon.on_reading(
            Reading(
                meter="m",
                ts=datetime.fromtimestamp(t, UTC),
                value=2 * e_uSv_h,
                unit="uGy/h",
                quantity=Quantity.AIR_KERMA_RATE,
            )
        )


def events(cfg: DaemonConfig) -> list[dict[str, Any]]:
    with jr.reader(cfg.journal.path) as conn:
        return [dict(r) for r in conn.execute("SELECT * FROM alarm_events ORDER BY seq")]


async def until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait until ``predicate()`` holds (state owned by other tasks), at most ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls state owned by other tasks
            await asyncio.sleep(0.02)
