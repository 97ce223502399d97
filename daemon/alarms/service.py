"""The alarm service: feeds the pure engine from the running daemon and stores what it says.

* samples, readings and meter states arrive through ``daemon.observers``;
* a tick re-judges every rule (delays, equipment checks) every ``tick_interval_s``;
* every state change and acknowledgement becomes an ``alarm_events`` row in the
  journal (with the journal-wide seq, so sinks publish it);
* acknowledgement requests from the CLI (``alarm_acks`` rows) and from MQTT are
  applied here: this service is the only writer of ``alarm_events``;
* on start it restores each rule's state from its last event, the twa windows
  from the journal's samples and the dose budgets from their snapshot plus the
  samples after it, so a restart neither forgets nor repeats an alarm.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.config.alarms import DoseBudgetRule, EquipmentRule
from radsurvey.config.schema import DaemonConfig
from radsurvey.drivers.base import Reading, Status
from radsurvey.protocols.errors import ConfigError, RadsurveyError

from ..journal import ReadConnection, ReadError
from ..journal.alarms import latest_events, mark_ack_handled, pending_acks, rule_states, save_rule_state
from ..journal.feed import lowest_sink_cursor
from ..journal.queries import aggregate_pieces, has_aggregates, net_rates_since
from . import clock
from .actions import CommandRunner
from .engine import (
    CategoryLimits,
    DoseBudgetState,
    Event,
    MachineState,
    NamedLimit,
    Observations,
    Rule,
    State,
    period_start,
    plan_budget,
)
from .records import iso, parse_iso

if TYPE_CHECKING:
    from radsurvey.drivers.runner import MeterState

    from ..pipeline import Sample
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.alarms")
DAMAGE_CHECK_S = 10.0
# A wall-clock advance that differs from the monotonic clock's by this much between two ticks is a step.
CLOCK_STEP_S = 2.0  # how often the journal_damaged rule looks for a damaged copy waiting to be recovered


def category_limits(protocol: str, room_category: int, where: str) -> CategoryLimits:
    from radsurvey.protocols import profiles

    try:
        category = profiles.get_profile(protocol).category(room_category)
    except RadsurveyError as err:
        raise ConfigError(err.message, field=where) from None
    if category is None:
        raise ConfigError(f"protocol {protocol} has no room category {room_category}", field=where)
    occupancy = category.occupancy_factor
    return CategoryLimits(
        dmd_uSv_h=category.dmd_uSv_h,
        dose_limit_mSv=category.dose_limit_mSv_per_year,
        occupancy_factor=occupancy.value if occupancy is not None else None,
        occupancy_source=occupancy.source if occupancy is not None else "",
        dose_limit_source=f"{protocol}: {category.source} (annual dose limit)",
    )


def named_limit(ref: str, where: str) -> NamedLimit:
    """The profile dose limit ``<profile id>/<key>`` names; ConfigError naming ``where`` if there is none."""
    from radsurvey.protocols import profiles

    profile_id, _, key = ref.rpartition("/")
    try:
        limit = profiles.get_dose_limit(profile_id, key)
    except RadsurveyError as err:
        raise ConfigError(err.message, field=where) from None
    return NamedLimit(ref=ref, value_mSv=limit.mSv, period=limit.period, source=limit.source)


def measured_effective_uSv_h(conversion: float, net_uGy_h: float) -> float:
    """E from the measured dose rate (formula 4, E = 0.5 x D): what every dose-rate rule judges.

    ``net_uGy_h`` is the sample's calibrated, background-subtracted air kerma rate;
    the value normalised to a standard workload (formula 1) is for comparison with
    a survey and is never integrated or averaged by an alarm.
    """
    return conversion * net_uGy_h


# The equipment rules the facility record raises on its rooms' monitors ([facility], docs/facility.md).
FACILITY_RULES = ("facility_hold", "facility_due")


def facility_alarm_state(path: Path) -> dict[str, dict[str, Any]]:
    """monitor channel -> its room's hold and overdue state; empty while the record does not exist."""
    from ..facility.record import room_alarms
    from ..facility.store import FacilityStore

    if not path.exists():
        return {}
    with FacilityStore(path, readonly=True) as store:
        return room_alarms(store)


# Limits for rules that need none (equipment checks only): never used in a judgement.
_NO_LIMITS = CategoryLimits(dmd_uSv_h=1.0, dose_limit_mSv=1.0)


def build_rules(cfg: DaemonConfig) -> dict[str, list[Rule]]:
    """channel id -> its rules (with the journal size bound of [retention]); ConfigError when a category is unknown."""
    out: dict[str, list[Rule]] = {}
    for ch in cfg.channels:
        rules = cfg.alarm_rules(ch)
        if not rules:
            continue
        # Only the channel's own rules judge dose rates against its category.
        limits = (
            category_limits(ch.protocol, ch.room_category, f"channels[{ch.id}].room_category")
            if ch.alarms
            else _NO_LIMITS
        )
        built = []
        for i, rule_cfg in enumerate(rules):
            plan = None
            if isinstance(rule_cfg, DoseBudgetRule):
                where = f"channels[{ch.id}].alarms[{i}]"
                named = named_limit(rule_cfg.limit, f"{where}.limit") if rule_cfg.limit else None
                try:
                    plan = plan_budget(rule_cfg, limits, named)
                except ValueError as err:
                    raise ConfigError(str(err), field=where) from None
            built.append(Rule(ch.id, rule_cfg, limits, plan=plan))
        out[ch.id] = built
    return out


def effective_conversions(cfg: DaemonConfig) -> dict[str, float]:
    """channel id -> the factor of formula 4 (E = factor x D) of its protocol profile."""
    from radsurvey.protocols import profiles

    out = {}
    for ch in cfg.channels:
        try:
            out[ch.id] = profiles.get_profile(ch.protocol).effective_conversion.value
        except RadsurveyError as err:
            raise ConfigError(err.message, field=f"channels[{ch.id}].protocol") from None
    return out


@dataclass
class _MeterWatch:
    connected: bool = False
    changed_at: float = 0.0  # when ``connected`` last changed
    last_value: float | None = None
    value_changed_at: float | None = None
    over_range: bool = False


def _budget_from_aggregates(
    conn: ReadConnection, channel: str, budget: Any, period_start_s: float, now_s: float
) -> DoseBudgetState | None:
    """A year dose budget's state from the journal's aggregates where retention removed the raw samples.

    The minute/hour buckets up to where the raw samples start (journal/queries.py, aggregate_pieces);
    the replay of the raw samples carries on after the last sample they hold. With an occupancy schedule
    a bucket's dose counts by the share of its measured time inside the schedule. The answer's resolution
    is a bucket (a minute, or an hour where minute aggregates are gone too), and a bucket counts gaps of
    up to 60 s as measured (the aggregates' rule) whatever the rule's ``max_gap_s``. None when the raw
    samples reach back to the period's start (or the journal has no aggregates).
    """
    if not has_aggregates(conn):
        return None
    pieces, until, _ = aggregate_pieces(conn, channel, round(period_start_s * 1000), round(now_s * 1000) + 1)
    if until is None:
        return None
    dose_uSv = covered_s = 0.0
    for last_ms, covered_ms, dose, _n, _max in pieces:
        covered = covered_ms / 1000
        if covered <= 0:
            continue
        b = last_ms / 1000
        a = b - covered
        share = 1.0 if budget.schedule is None else budget.schedule.occupied_s(a, b) / covered
        dose_uSv += dose * share
        covered_s += covered
    return DoseBudgetState(period_start=period_start_s, dose_uSv=dose_uSv, covered_s=covered_s, last_t=until / 1000)


def measured_history(conn: ReadConnection, channel: str, since: float) -> Iterator[tuple[float, float]]:
    """(t, net_uGy_h) of the channel's journaled samples from ``since`` on, oldest first.

    The one place the alarm windows and dose budgets are rebuilt from at start: the
    journal's minute/hour aggregates can stand in here where raw samples are gone
    (within the aggregate's resolution).
    """
    for ts, net in net_rates_since(conn, channel, iso(since) or ""):
        yield parse_iso(ts), net


class AlarmService:
    """Runs the alarm rules of every channel inside the daemon."""

    name = "alarms"

    def __init__(
        self,
        cfg: DaemonConfig,
        *,
        now: Callable[[], float] = time.time,
        clock_synchronised: Callable[[], bool | None] = clock.synchronised,
        monotonic: Callable[[], float] | None = None,
    ):
        """``now``: the wall clock (timestamps); ``monotonic``: the clock that never steps, against which a step
        of the wall clock is found (:meth:`watch_clock`); default ``time.monotonic``, or ``now`` itself when a
        test gives its own ``now`` (a clock without steps)."""
        self.cfg = cfg
        self.now = now
        self.monotonic = monotonic or (time.monotonic if now is time.time else now)
        self._clock_pair: tuple[float, float] | None = None  # (wall, monotonic) at the latest tick
        self.clock_synchronised = clock_synchronised
        self.rules = build_rules(cfg)
        self.conversion = effective_conversions(cfg)
        self.by_key = {(r.channel, r.name): r for rules in self.rules.values() for r in rules}
        self.channel_meter = {ch.id: ch.meter for ch in cfg.channels}
        self.meters: dict[str, _MeterWatch] = {}
        self.ready = asyncio.Event()
        self._buffer: list[Sample] | None = []
        self._handled_acks: set[int] = set()
        self._unsync_since: float | None = None
        self._clock_unknown_logged = False
        self.commands = CommandRunner(cfg.alarms.command, on_result=self._on_command_result)
        self._action_rules: dict[str, Rule] = {}
        if cfg.alarms.command is not None:
            for channel in self.rules:
                # The local command's own health, per channel: a failed command is a
                # fault (value 1 = the last command failed), cleared by the next success.
                action = EquipmentRule(kind="equipment", check="over_range", id="action")
                self._action_rules[channel] = Rule(channel, action, _NO_LIMITS)
                self.by_key[(channel, "action")] = self._action_rules[channel]
        # The journal's own health, per channel with rules: a failed commit is a fault at once
        # (value 1 = the last commit failed), cleared by the next commit that succeeds.
        self._journal_rules: dict[str, Rule] = {}
        for channel in self.rules:
            journal_write = EquipmentRule(kind="equipment", check="over_range", id="journal_write")
            self._journal_rules[channel] = Rule(channel, journal_write, _NO_LIMITS)
            self.by_key[(channel, "journal_write")] = self._journal_rules[channel]
        # A damaged journal set aside at start (journal/recovery.py): fault while its copy waits for
        # `radsurvey journal recover`, checked every DAMAGE_CHECK_S.
        self._damage_rules: dict[str, Rule] = {}
        for channel in self.rules:
            damaged = EquipmentRule(kind="equipment", check="over_range", id="journal_damaged")
            self._damage_rules[channel] = Rule(channel, damaged, _NO_LIMITS)
            self.by_key[(channel, "journal_damaged")] = self._damage_rules[channel]
        self._damage_checked_at = -float("inf")
        # The facility record's holds and overdue surveys/inspections, per channel (docs/facility.md):
        # value 1 = the room this channel monitors is on hold / overdue; channels of no room stay normal.
        self._facility_rules: dict[str, dict[str, Rule]] = {}
        if cfg.facility is not None:
            for ch in cfg.channels:
                for name in FACILITY_RULES:
                    rule = Rule(ch.id, EquipmentRule(kind="equipment", check="over_range", id=name), _NO_LIMITS)
                    self._facility_rules.setdefault(ch.id, {})[name] = rule
                    self.by_key[(ch.id, name)] = rule
        self.facility_state: dict[str, dict[str, Any]] = {}
        self.daemon: Daemon | None = None
        self._read: ReadConnection | None = None

    # -- daemon wiring -------------------------------------------------------------------------

    async def run(self, daemon: Daemon) -> None:
        from ..journal import connect

        self.daemon = daemon
        start = self.now()
        for meter in self.cfg.meters:
            self.meters[meter.id] = _MeterWatch(changed_at=start)
        obs = daemon.observers
        obs.samples.append(self.on_sample)
        obs.readings.append(self.on_reading)
        obs.meter_states.append(self.on_meter_state)
        try:
            await daemon.journal.aflush()
            self._read = connect(daemon.journal.path, readonly=True)
            await _finished_before_cancel(asyncio.to_thread(self.restore, self._read), self._read)
            buffered, self._buffer = self._buffer or [], None
            for sample in buffered:
                self.on_sample(sample)
            loop = asyncio.get_running_loop()

            def on_health(error: str | None) -> None:  # journal writer thread
                if not loop.is_closed():
                    loop.call_soon_threadsafe(self.on_journal_health, error)

            daemon.journal.add_health_listener(on_health)
            self.on_journal_health(daemon.journal.last_error)
            self.check_journal_damage(self.now())
            self.ready.set()
            log.info("alarm service running", rules=[f"{c}/{r}" for c, r in self.by_key])
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.commands.run(), name="alarms:commands")
                tg.create_task(self._tick_loop(), name="alarms:tick")
                tg.create_task(self._ack_loop(), name="alarms:acks")
                tg.create_task(self._snapshot_loop(), name="alarms:snapshots")
                if self._facility_rules:
                    tg.create_task(self._facility_loop(), name="alarms:facility")
        finally:
            if self.on_sample in obs.samples:
                obs.samples.remove(self.on_sample)
            if self.on_reading in obs.readings:
                obs.readings.remove(self.on_reading)
            if self.on_meter_state in obs.meter_states:
                obs.meter_states.remove(self.on_meter_state)
            self.save_snapshots()
            if self._read is not None:
                self._read.close()

    async def _tick_loop(self) -> None:
        while True:
            self.watch_clock(self.now(), self.monotonic())
            self.tick(self.now())
            await asyncio.sleep(self.cfg.alarms.tick_interval_s)

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.alarms.ack_poll_interval_s)
            try:
                await self.poll_acks()
            except ReadError as err:
                log.warning("cannot read acknowledgement requests", error=str(err))

    async def _snapshot_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.alarms.snapshot_interval_s)
            self.save_snapshots()

    async def _facility_loop(self) -> None:
        assert self.cfg.facility is not None and self.daemon is not None
        path = self.cfg.facility.resolved_path(Path(self.daemon.journal.path))
        while True:
            try:
                state = await asyncio.to_thread(facility_alarm_state, path)
            except RadsurveyError as err:
                log.warning("cannot read the facility record", path=str(path), error=err.message)
            else:
                self.on_facility_state(state)
            await asyncio.sleep(self.cfg.facility.poll_interval_s)

    def on_facility_state(self, state: dict[str, dict[str, Any]]) -> None:
        """Judge each channel's ``facility_hold`` and ``facility_due`` from the record's room states."""
        self.facility_state = state
        t = self.now()
        for channel, rules in self._facility_rules.items():
            room = state.get(channel)
            flags = {
                "facility_hold": bool(room and room["hold"]),
                "facility_due": bool(room and room["overdue"]),
            }
            for name, rule in rules.items():
                self._record(rule.evaluate(t, Observations(over_range=flags[name])))

    # -- observations (event loop; never block) ---------------------------------------------------

    def on_sample(self, sample: Sample) -> None:
        if self._buffer is not None:
            self._buffer.append(sample)
            return
        # The journal keeps milliseconds: judge the very times it stores, so that a
        # replay after a restart (and an auditor) computes the same numbers.
        t = sample.ts.replace(microsecond=sample.ts.microsecond // 1000 * 1000).timestamp()
        measured = measured_effective_uSv_h(self.conversion[sample.channel], sample.net_uGy_h)
        for rule in self.rules.get(sample.channel, ()):
            if rule.uses_samples:
                rule.add_sample(t, measured)
                self._record(rule.evaluate(t))

    def on_reading(self, reading: Reading, _seq: int) -> None:
        w = self.meters.setdefault(reading.meter, _MeterWatch(changed_at=self.now()))
        t = reading.ts.timestamp()
        if Status.STALE not in reading.status and reading.value != w.last_value:
            w.value_changed_at = t
        w.last_value = reading.value
        w.over_range = Status.OVER_RANGE in reading.status

    def on_meter_state(self, state: MeterState) -> None:
        w = self.meters.setdefault(state.meter, _MeterWatch(changed_at=self.now()))
        # "error" and "stale" come from a meter that is still there; only a lost link is a disconnect.
        connected = state.state in ("connected", "error", "stale")
        if connected != w.connected:
            w.connected = connected
            w.changed_at = state.ts.timestamp()
            w.value_changed_at = w.changed_at if connected else None
        if state.state == "stale":
            w.value_changed_at = min(w.value_changed_at or 0.0, w.changed_at)

    def observations(self, channel: str, t: float) -> Observations:
        w = self.meters.get(self.channel_meter.get(channel, ""), _MeterWatch(changed_at=t))
        obs = Observations(
            disconnected_s=0.0 if w.connected else max(0.0, t - w.changed_at),
            stale_s=max(0.0, t - (w.value_changed_at or t)) if w.connected else 0.0,
            over_range=w.over_range if w.connected else False,
        )
        return obs

    def _system_observations(self, obs: Observations, t: float, needs: AbstractSet[str]) -> Observations:
        daemon = self.daemon
        if "journal_size" in needs and daemon is not None:
            path = Path(daemon.journal.path)
            obs.journal_bytes = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        if "sink_backlog" in needs and daemon is not None and self._read is not None:
            lowest = lowest_sink_cursor(self._read)
            obs.sink_backlog_rows = None if lowest is None else max(0, daemon.journal.committed_seq - lowest)
        if "sink_failing" in needs and daemon is not None:
            obs.sinks_failing = sum(1 for s in daemon.services if getattr(s, "failing", None))
        if "clock" in needs:
            synced = self.clock_synchronised()
            if synced is None:
                if not self._clock_unknown_logged:
                    log.warning("cannot tell whether the system clock is synchronised; clock rule is idle")
                    self._clock_unknown_logged = True
                obs.unsynchronised_s = 0.0
            elif synced:
                self._unsync_since = None
            elif self._unsync_since is None:
                self._unsync_since = t
            obs.unsynchronised_s = 0.0 if self._unsync_since is None else t - self._unsync_since
        return obs

    def watch_clock(self, wall: float, mono: float) -> float:
        """Compare the wall clock's advance with the monotonic clock's since the last call; the step (s), 0 if none.

        Intervals must come from a clock that never steps, timestamps from the wall clock. The rules keep their
        timers as wall-clock times (the time they journal), so a step of the wall clock (NTP's first answer on a
        Raspberry Pi without RTC, a person setting the date) would stretch or shrink every running interval: a
        one-hour step back would clear an active clock fault and hold a disconnect alarm back an hour. So a step is
        found here, recorded (one log line, a row in the journal's ``clock_steps``), and every timer is moved by
        it: each interval keeps its true length, measured on the monotonic clock.
        """
        previous, self._clock_pair = self._clock_pair, (wall, mono)
        if previous is None:
            return 0.0
        step = (wall - previous[0]) - (mono - previous[1])
        if abs(step) < CLOCK_STEP_S:
            return 0.0
        self.clock_stepped(step, wall)
        return step

    def clock_stepped(self, step: float, wall: float) -> None:
        """Move every interval timer by ``step`` (s) so that no running interval changes length."""
        log.warning("system clock stepped; timers kept their true length", step_s=round(step, 3))
        if self._unsync_since is not None:
            self._unsync_since += step
        for w in self.meters.values():
            w.changed_at += step
            if w.value_changed_at is not None:
                w.value_changed_at += step
        for r in self.by_key.values():
            r.shift_timers(step)
        if self.daemon is not None:
            self.daemon.journal.record_clock_step(iso(wall), step)

    def tick(self, t: float) -> None:
        """Re-judge every rule at ``t`` (expired delays, equipment checks)."""
        if self._buffer is not None:
            return
        needs = {r.cfg.check for r in self.by_key.values() if isinstance(r.cfg, EquipmentRule)}
        system = self._system_observations(Observations(), t, needs) if needs else Observations()
        for channel, rules in self.rules.items():
            obs = self.observations(channel, t)
            obs.journal_bytes = system.journal_bytes
            obs.sink_backlog_rows = system.sink_backlog_rows
            obs.sinks_failing = system.sinks_failing
            obs.unsynchronised_s = system.unsynchronised_s
            for rule in rules:
                self._record(rule.evaluate(t, obs))
        if t - self._damage_checked_at >= DAMAGE_CHECK_S:
            self.check_journal_damage(t)

    def check_journal_damage(self, t: float) -> None:
        """``journal_damaged``: fault while a damaged copy of the journal waits for `radsurvey journal recover`."""
        if self.daemon is None or not self._damage_rules:
            return
        from ..journal.recovery import waiting

        self._damage_checked_at = t
        copies = waiting(Path(self.daemon.journal.path))
        for rule in self._damage_rules.values():
            self._record(rule.evaluate(t, Observations(over_range=bool(copies))))

    # -- events ---------------------------------------------------------------------------------

    def _record(self, ev: Event | None) -> None:
        if ev is None:
            return
        if self.daemon is not None:
            self.daemon.journal.append_alarm_event(ev)
        log_fn = log.warning if ev.state in (State.ALARM, State.FAULT) else log.info
        log_fn(
            "alarm state" if ev.event == "transition" else "alarm acknowledged",
            channel=ev.channel,
            rule=ev.rule,
            state=ev.state.value,
            previous=ev.previous.value,
            value=ev.value,
            threshold=ev.level,
            by=ev.acknowledged_by if ev.event == "ack" else None,
        )
        if ev.state != ev.previous and ev.rule != "action":
            self.commands.submit(ev)

    def on_journal_health(self, error: str | None) -> None:
        """The journal writer's last commit failed (``error``) or succeeded (None): judge ``journal_write``."""
        if error is not None:
            log.error("journal commit failing: equipment alarm journal_write", error=error)
        for rule in self._journal_rules.values():
            self._record(rule.evaluate(self.now(), Observations(over_range=error is not None)))

    def _on_command_result(self, ev: Event, ok: bool, detail: str) -> None:
        rule = self._action_rules.get(ev.channel)
        if rule is None:
            return
        if not ok:
            log.error("alarm command failed", channel=ev.channel, rule=ev.rule, state=ev.state.value, error=detail)
        self._record(rule.evaluate(self.now(), Observations(over_range=not ok)))

    def acknowledge(
        self, channel: str, rule: str | None, by: str, comment: str = "", *, source: str
    ) -> tuple[bool, str]:
        """Acknowledge one rule, or every non-normal rule of the channel. (accepted, message)."""
        by = by.strip()
        if not by:
            return False, "acknowledgement names nobody (give who acknowledges)"
        if channel not in self.rules and channel not in self._facility_rules:
            return False, f"no alarm rules on channel {channel!r}"
        own = (self._journal_rules, self._damage_rules, self._action_rules)
        internal = [rules[channel] for rules in own if channel in rules]
        internal += list(self._facility_rules.get(channel, {}).values())
        targets = [r for r in (*self.rules.get(channel, ()), *internal) if rule is None or r.name == rule]
        if rule is not None and not targets:
            return False, f"channel {channel!r} has no rule {rule!r}"
        if rule is None:
            targets = [r for r in targets if r.machine.s.state != State.NORMAL]
            if not targets:
                return False, f"nothing to acknowledge on channel {channel!r} (all rules normal)"
        t = self.now()
        done, reasons = [], []
        for r in targets:
            ev, reason = r.acknowledge(t, by, comment)
            if ev is None:
                reasons.append(f"{r.name}: {reason}")
                continue
            self._record(ev)
            done.append(r.name)
        if not done:
            return False, "; ".join(reasons)
        log.info("acknowledgement accepted", channel=channel, rules=done, by=by, source=source)
        return True, f"acknowledged {', '.join(done)} on {channel} by {by}"

    async def poll_acks(self) -> None:
        """Apply acknowledgement requests written by ``radsurvey alarms ack``."""
        if self._read is None or self.daemon is None:
            return
        # A small table read on the loop: WAL readers never wait for the writer, and one
        # connection is never used from two threads at once.
        rows = pending_acks(self._read)
        for row in rows:
            if row["id"] in self._handled_acks:
                continue
            self._handled_acks.add(row["id"])
            ok, message = self.acknowledge(row["channel"], row["rule"], row["by"], row["comment"], source=row["source"])
            if not ok:
                log.warning(
                    "acknowledgement rejected", channel=row["channel"], rule=row["rule"], by=row["by"], reason=message
                )
            result = ("accepted: " if ok else "rejected: ") + message
            mark_ack_handled(self.daemon.journal, row["id"], iso(self.now()) or "", result)

    # -- persistence ------------------------------------------------------------------------------

    def save_snapshots(self) -> None:
        """Store the dose budgets (their integral since the period start cannot be recomputed cheaply)."""
        if self.daemon is None or self._buffer is not None:
            return
        for r in self.by_key.values():
            if r.budget is not None and r.budget.s is not None:
                at = iso(self.now()) or ""
                save_rule_state(self.daemon.journal, r.channel, r.name, at, json.dumps(asdict(r.budget.s)))

    def restore(self, conn: ReadConnection) -> None:
        """Rule states from their last events; twa windows and dose budgets from samples."""
        t_now = self.now()
        for row in latest_events(conn):
            rule = self.by_key.get((row["channel"], row["rule"]))
            if rule is None:
                continue
            rule.machine.restore(
                MachineState(
                    state=State(row["state"]),
                    since=parse_iso(row["since"]),
                    latched=bool(row["latched"]),
                    acknowledged=bool(row["acknowledged"]),
                    acknowledged_by=row["acknowledged_by"],
                    acknowledged_at=parse_iso(row["acknowledged_at"]) if row["acknowledged_at"] else None,
                    comment=row["comment"],
                )
            )
            if row["value"] is not None:
                rule.machine.value = row["value"]
            if rule.machine.s.state != State.NORMAL:
                log.info(
                    "alarm state restored", channel=rule.channel, rule=rule.name, state=row["state"], since=row["since"]
                )
        snapshots = {key: json.loads(state) for key, state in rule_states(conn).items()}
        for channel, rules in self.rules.items():
            start: float | None = None
            for r in rules:
                if r.twa is not None:
                    begin = t_now - r.twa.window_s - r.twa.max_gap_s
                elif r.budget is not None and r.budget.window is not None:
                    assert isinstance(r.cfg, DoseBudgetRule)
                    begin = t_now - r.budget.window.window_s - r.cfg.max_gap_s
                elif r.budget is not None:
                    assert isinstance(r.cfg, DoseBudgetRule)
                    snap = snapshots.get((channel, r.name))
                    current_start = period_start(r.cfg.start, t_now)
                    if snap is not None and snap["period_start"] != current_start:
                        # A new year, or `start` was changed in the config: the saved dose
                        # belongs to another period and must not count in this one.
                        log.info(
                            "dose budget snapshot is of another period; recomputed from the journal",
                            channel=channel,
                            rule=r.name,
                            saved_period_start=iso(snap["period_start"]),
                            period_start=iso(current_start),
                        )
                        snap = None
                    if snap is not None:
                        r.budget.s = DoseBudgetState(**snap)
                        r.budget.last_t = r.budget.s.last_t
                        begin = snap["last_t"] if snap["last_t"] is not None else snap["period_start"]
                    else:
                        begin = current_start - r.cfg.max_gap_s
                        seeded = _budget_from_aggregates(conn, channel, r.budget, current_start, t_now)
                        if seeded is not None:  # raw samples of the period's start are gone (retention)
                            r.budget.s = seeded
                            r.budget.last_t = seeded.last_t
                            begin = seeded.last_t if seeded.last_t is not None else begin
                else:
                    continue
                start = begin if start is None else min(start, begin)
            if start is not None:
                self._replay(conn, channel, rules, start)

    def _replay(self, conn: ReadConnection, channel: str, rules: list[Rule], start: float) -> None:
        n = 0
        conversion = self.conversion[channel]
        for t, net_uGy_h in measured_history(conn, channel, start):
            measured = measured_effective_uSv_h(conversion, net_uGy_h)
            for r in rules:
                if r.twa is not None:
                    r.twa.add(t, measured)
                elif r.budget is not None and (r.budget.last_t is None or t > r.budget.last_t):
                    r.budget.add(t, measured)
            n += 1
        if n:
            log.info("alarm windows restored from the journal", channel=channel, samples=n)

    # -- views --------------------------------------------------------------------------------------

    def current(self) -> list[dict[str, Any]]:
        out = []
        internal = set(map(id, [*self._journal_rules.values(), *self._damage_rules.values()]))
        internal |= {id(r) for rules in self._facility_rules.values() for r in rules.values()}
        for r in self.by_key.values():
            s = r.machine.s
            if id(r) in internal and s.state == State.NORMAL:
                continue  # journal_write and the facility rules show only when raised
            out.append(
                {
                    "channel": r.channel,
                    "rule": r.name,
                    "kind": r.kind,
                    "state": s.state.value,
                    "since": iso(s.since) if s.since else None,
                    "value": r.machine.value,
                    "level": r.machine.level,
                    "unit": r.unit,
                    "basis": r.basis,
                    "acknowledged": s.acknowledged,
                    "latched": s.latched,
                }
            )
        return out


def services_for(cfg: DaemonConfig) -> list[Any]:
    """The alarm services a config asks for: none without rules; the MQTT ack listener when enabled."""
    if not any(cfg.alarm_rules(ch) for ch in cfg.channels) and cfg.facility is None:
        return []
    alarms = AlarmService(cfg)
    services: list[Any] = [alarms]
    if cfg.alarms.mqtt_ack.enabled:
        from .mqtt_ack import MqttAckService

        services.append(MqttAckService(cfg.alarms.mqtt_ack, site=cfg.site.id, alarms=alarms, mqtt=cfg.mqtt))
    return services


__all__ = ["AlarmService", "build_rules", "iso", "services_for"]


async def _finished_before_cancel(work: Coroutine[Any, Any, None], conn: ReadConnection) -> None:
    """Await ``work`` (a thread reading ``conn``); cancelled, interrupt the read and wait for the thread to end.

    The caller closes ``conn`` when it is cancelled: closed under a thread still reading it, SQLite crashes
    the process (a stop, or damage found, during the alarms' restore at start).
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        conn.interrupt()
        await asyncio.wait({task})
        raise
