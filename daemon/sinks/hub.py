"""What the sinks share: their status (for ``{root}/status/sinks``) and the journal retention."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..journal import now_iso
from ..journal.retention import RetentionPlan, apply_retention

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

    from ..supervisor import Daemon
    from .base import CursorSink

log = structlog.get_logger("radsurvey.sinks.retention")

# Event tables retention may shorten (by max_age_days), and the switch that protects each of the others.
# Raw readings and samples and the aggregates have their own tiers (journal/retention.py).
ALWAYS_PRUNABLE_EVENTS = ("meter_events",)
PROTECTED = {"alarm_events": "keep_alarms", "survey_points": "keep_surveys"}


def journal_size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


class SinkHub:
    """The enabled sinks of one daemon and the journal-size state."""

    def __init__(self, cfg: DaemonConfig):
        self.cfg = cfg
        self.sinks: list[CursorSink] = []
        self.journal_path: Path | None = None
        self.journal_state = "ok"  # ok | warning (size >= warn_fraction * max_size_mb)
        self.journal_size_bytes = 0
        self.deleted_rows = 0

    def add(self, sink: CursorSink) -> CursorSink:
        self.sinks.append(sink)
        return sink

    def acknowledged_seq(self, committed_seq: int) -> int:
        """The highest seq every enabled sink has acknowledged (all committed rows when there is no sink)."""
        return min((s.cursor for s in self.sinks), default=committed_seq)

    def status(self) -> dict[str, Any]:
        r = self.cfg.retention
        return {
            "ts": now_iso(),
            "sinks": {s.name: s.status() for s in self.sinks},
            "journal": {
                "size_bytes": self.journal_size_bytes,
                "max_size_bytes": int(r.max_size_mb * 1e6) if r.max_size_mb else None,
                "state": self.journal_state,
                "deleted_rows": self.deleted_rows,
            },
        }


def rolling_budget_days(cfg: DaemonConfig) -> float:
    """Days of raw samples a rolling dose budget (week, 13 weeks) replays after a restart, plus a day.

    Retention keeps raw rows at least this long whatever ``raw_days`` says, so such a budget is
    restored exactly (a year budget is restored from its snapshot or the aggregates instead).
    A budget whose period comes from its named limit counts as 13 weeks (the longest).
    """
    days = 0.0
    for ch in cfg.channels:
        for rule in ch.alarms:
            if getattr(rule, "kind", None) != "dose_budget":
                continue
            period = getattr(rule, "period", None)
            if period == "week":
                days = max(days, 8.0)
            elif period == "13_weeks" or (period is None and getattr(rule, "limit", None)):
                days = max(days, 92.0)
    return days


class RetentionService:
    """Deletes old rows every sink acknowledged; warns when the journal nears its size limit."""

    name = "retention"

    def __init__(self, hub: SinkHub):
        self.hub = hub

    async def run(self, daemon: Daemon) -> None:
        self.hub.journal_path = daemon.journal.path
        from .base import checkpoint

        while True:
            checkpoint()
            try:
                await self.pass_once(daemon)
            except Exception:
                log.exception("retention pass failed")
            await asyncio.sleep(self.hub.cfg.retention.interval_s)

    async def pass_once(self, daemon: Daemon) -> None:
        """One retention pass: the deletes run in the journal writer's next transaction."""
        r = self.hub.cfg.retention
        journal = daemon.journal
        upto = self.hub.acknowledged_seq(journal.committed_seq)
        now = datetime.now(UTC)

        def cutoff(days: float | None) -> datetime | None:
            return now - timedelta(days=days) if days is not None else None

        raw_days = min((d for d in (r.raw_days, r.max_age_days) if d is not None), default=None)
        if raw_days is not None:
            raw_days = max(raw_days, rolling_budget_days(self.hub.cfg))
        plan = RetentionPlan(
            upto=upto,
            raw_before=cutoff(raw_days),
            minute_before=cutoff(r.minute_days),
            hour_before=cutoff(r.hour_days),
            events_before=cutoff(r.max_age_days if r.max_age_days is not None else r.raw_days),
            event_tables=tuple(ALWAYS_PRUNABLE_EVENTS)
            + tuple(t for t, keep in PROTECTED.items() if not getattr(r, keep) and r.max_age_days is not None),
        )
        result: dict[str, int] = {}

        def run(conn: Any) -> None:
            result.update(apply_retention(conn, plan))

        journal.run_in_writer(run)
        # In the next commit the interval brings, not one of its own: a commit a minute more was SD-card wear.
        await journal.aflush(journal.commit_interval_s + 30, now=False)
        deleted = sum(result.values())
        if deleted:
            self.hub.deleted_rows += deleted
            log.info("retention removed acknowledged rows", upto_seq=upto, **result)
        size = journal_size_bytes(journal.path)
        self.hub.journal_size_bytes = size
        if r.max_size_mb is not None:
            state = "warning" if size >= r.warn_fraction * r.max_size_mb * 1e6 else "ok"
            if state != self.hub.journal_state:
                if state == "warning":
                    log.warning(
                        "journal is near its size limit; nothing is dropped, "
                        "but sinks must catch up or retention be shortened",
                        size_mb=round(size / 1e6, 1),
                        max_size_mb=r.max_size_mb,
                    )
                else:
                    log.info("journal size back under its warning level", size_mb=round(size / 1e6, 1))
            self.hub.journal_state = state
