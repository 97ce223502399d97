"""The console's live state: one row per channel, pushed to every open page.

Fed by the supervisor's observers (samples, meter states) and a one-second tick
that re-judges freshness, alarm states and sink backlogs; every change of a row
is put on each subscriber's queue (the SSE streams read them). A channel whose
meter is disconnected, or that has had no sample for ``stale_after_s``, shows no
value: ``effective_uSv_h`` is null and ``status`` says why, while the last value
and its time stay available as ``last_*`` for the page to show as history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.drivers.base import iso_utc

from ..journal import ReadConnection, ReadError, times
from ..journal.queries import latest_sample

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig
    from radsurvey.drivers.runner import MeterState

    from ..alarms.service import AlarmService
    from ..pipeline import Sample
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.web")

ALARM_SEVERITY = {"normal": 0, "warning": 1, "fault": 2, "alarm": 3}
QUEUE_SIZE = 256


def _category_limit(protocol: str, room_category: int) -> float | None:
    from radsurvey.protocols import profiles
    from radsurvey.protocols.errors import RadsurveyError

    try:
        category = profiles.get_profile(protocol).category(room_category)
    except RadsurveyError:
        return None
    return None if category is None else float(category.dmd_uSv_h)


class LiveState:
    """Channel rows, sink backlogs and the subscribers that want their changes."""

    def __init__(self, cfg: DaemonConfig, *, stale_after_s: float | None = None, clock=time.time):  # type: ignore[no-untyped-def]
        self.cfg = cfg
        self.clock = clock
        poll = {m.id: m.poll_interval_s for m in cfg.meters}
        self.stale_after_s = {
            ch.id: stale_after_s if stale_after_s is not None else max(5.0, 3 * poll.get(ch.meter, 1.0))
            for ch in cfg.channels
        }
        self.channels = {ch.id: ch for ch in cfg.channels}
        self.limits = {ch.id: _category_limit(ch.protocol, ch.room_category) for ch in cfg.channels}
        self.last: dict[str, dict[str, Any]] = {}  # channel -> last sample (journal row form)
        self.meter_states: dict[str, MeterState] = {}
        self.alarms: AlarmService | None = None
        self.sinks: dict[str, dict[str, Any]] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self.daemon: Daemon | None = None

    # -- feeding ------------------------------------------------------------------------------

    def attach(self, daemon: Daemon, alarms: AlarmService | None) -> None:
        self.daemon = daemon
        self.alarms = alarms
        self.meter_states.update(daemon.meter_states)
        daemon.observers.samples.append(self.on_sample)
        daemon.observers.meter_states.append(self.on_meter_state)

    def detach(self) -> None:
        if self.daemon is None:
            return
        obs = self.daemon.observers
        if self.on_sample in obs.samples:
            obs.samples.remove(self.on_sample)
        if self.on_meter_state in obs.meter_states:
            obs.meter_states.remove(self.on_meter_state)

    def preload(self, conn: ReadConnection) -> None:
        """The newest journaled sample of every channel (shown as history until a live one arrives)."""
        for channel in self.channels:
            row = latest_sample(conn, channel)
            if row is not None and channel not in self.last:
                self.last[channel] = row

    def on_sample(self, sample: Sample) -> None:
        self.last[sample.channel] = {**sample.row(), "seq": sample.seq, "received": self.clock()}
        self.refresh(sample.channel)

    def on_meter_state(self, state: MeterState) -> None:
        self.meter_states[state.meter] = state
        for ch in self.channels.values():
            if ch.meter == state.meter:
                self.refresh(ch.id)

    # -- rows -------------------------------------------------------------------------------------

    def channel_alarm(self, channel: str) -> dict[str, Any]:
        rules = [r for r in (self.alarms.current() if self.alarms else []) if r["channel"] == channel]
        worst = max((r["state"] for r in rules), key=lambda s: ALARM_SEVERITY.get(s, 0), default="normal")
        active = [r for r in rules if r["state"] != "normal"]
        return {
            "state": worst,
            "rules": rules,
            "unacknowledged": [r["rule"] for r in active if not r["acknowledged"]],
            "configured": bool(rules),
        }

    def row(self, channel: str) -> dict[str, Any]:
        ch = self.channels[channel]
        now = self.clock()
        last = self.last.get(channel)
        meter = self.meter_states.get(ch.meter)
        meter_state = meter.state if meter is not None else "unknown"
        age = None
        if last is not None:
            received = last.get("received")
            age = now - received if received is not None else now - times.parse(last["ts"]).timestamp()
        if meter_state in ("disconnected", "connecting") and (meter is not None):
            status = "disconnected"
        elif last is None:
            status = "no_data"
        elif age is not None and age > self.stale_after_s[channel]:
            status = "stale"
        elif meter_state in ("stale", "error"):
            status = "stale"
        else:
            status = "live"
        live = status == "live"
        limit = last["limit_uSv_h"] if last else self.limits[channel]
        return {
            "id": channel,
            "location": ch.location,
            "meter": ch.meter,
            "room_category": ch.room_category,
            "status": status,
            "effective_uSv_h": last["effective_uSv_h"] if live and last else None,
            "ratio": last["ratio"] if live and last else None,
            "limit_uSv_h": limit,
            "last_effective_uSv_h": last["effective_uSv_h"] if last else None,
            "last_ts": last["ts"] if last else None,
            "below_background": bool(last["below_background"]) if live and last else None,
            "meter_state": meter_state,
            "meter_reason": meter.reason if meter is not None else "",
            "alarm": self.channel_alarm(channel),
        }

    def refresh(self, channel: str) -> None:
        row = self.row(channel)
        if row != self.rows.get(channel):
            self.rows[channel] = row
            self.publish("channel", row)

    def overview(self) -> dict[str, Any]:
        return {
            "site": {"id": self.cfg.site.id, "name": self.cfg.site.name},
            "now": iso_utc(datetime.fromtimestamp(self.clock(), UTC)),
            "channels": [self.rows.get(c) or self.row(c) for c in self.channels],
            "sinks": self.sinks,
        }

    def set_sinks(self, sinks: dict[str, dict[str, Any]]) -> None:
        view = {
            name: {k: s.get(k) for k in ("backlog_rows", "lag_s", "errors", "last_error")} for name, s in sinks.items()
        }
        if view != self.sinks:
            self.sinks = view
            self.publish("sinks", view)

    # -- subscribers -------------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        q: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[tuple[str, dict[str, Any]]]) -> None:
        self.subscribers.discard(q)

    def publish(self, event: str, data: dict[str, Any]) -> None:
        for q in list(self.subscribers):
            try:
                q.put_nowait((event, data))
            except asyncio.QueueFull:
                # A client that does not read: it gets a full overview again when it catches up.
                while not q.empty():
                    q.get_nowait()
                q.put_nowait(("overview", self.overview()))

    async def tick_loop(self, query: Callable[[Callable[[ReadConnection], Any]], Awaitable[Any]] | None) -> None:
        from ..sinks.status import sink_status

        n = 0
        while True:
            for channel in self.channels:
                self.refresh(channel)
            if query is not None and n % 2 == 0:
                try:
                    # Counting a long backlog after an outage takes a while: off the event loop.
                    self.set_sinks(await query(sink_status))
                except ReadError as err:
                    log.warning("cannot read sink status", error=str(err))
            n += 1
            await asyncio.sleep(1.0)
