"""The alarm engine: pure, deterministic rule maths (time is always passed in).

Two parts per rule:

* a **measure** turns samples (or equipment observations) into one number at a
  time ``t``: the time-weighted average of E over a window, the projected
  annual dose, seconds disconnected, ...;
* a :class:`StateMachine` turns that number into a state (normal, warning,
  alarm or fault) with hysteresis, on/off delays and latching.

Times are POSIX seconds (floats). Nothing here reads a clock, touches a file or
awaits: the service (``service.py``) feeds it and stores what it emits.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from radsurvey.config.alarms import AlarmRule, DoseBudgetRule, EquipmentRule, InstantRule, TwaRule


class State(enum.StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    ALARM = "alarm"
    FAULT = "fault"


_RANK = {State.NORMAL: 0, State.WARNING: 1, State.ALARM: 2, State.FAULT: 2}


def rank(state: State) -> int:
    return _RANK[state]


@dataclass(frozen=True)
class Event:
    """A state change or an acknowledgement of one rule of one channel."""

    event: str  # "transition" | "ack"
    channel: str
    rule: str
    kind: str
    t: float
    state: State
    previous: State
    value: float | None
    level: float
    warning_level: float | None
    unit: str
    since: float
    acknowledged: bool
    latched: bool
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    comment: str = ""

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = self.state.value
        d["previous"] = self.previous.value
        return d


# -- the state machine ---------------------------------------------------------------------


@dataclass
class MachineState:
    """What must survive a restart: the shown state and its acknowledgement."""

    state: State = State.NORMAL
    since: float = 0.0
    active: int = 0  # level reached by the value (0 normal, 1 warning, 2 top) after delays
    latched: bool = False
    acknowledged: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    comment: str = ""


class StateMachine:
    """Thresholds with hysteresis, on/off delays and latching.

    ``level`` is the top threshold (alarm, or fault for equipment rules);
    ``warning_fraction`` * level the warning threshold (0: no warning state). A
    level rises when the value has been at or above its threshold for
    ``on_delay_s``; it falls when the value has been below (1 - hysteresis) x
    threshold for ``off_delay_s``. A latching rule keeps its top state until it
    is acknowledged; an acknowledgement while the value is still high releases
    the latch for that episode only.
    """

    def __init__(
        self,
        *,
        level: float,
        warning_fraction: float = 0.0,
        hysteresis_fraction: float = 0.0,
        on_delay_s: float = 0.0,
        off_delay_s: float = 0.0,
        latching: bool = False,
        top: State = State.ALARM,
    ):
        self.level = level
        self.warning_fraction = warning_fraction
        self.hysteresis = hysteresis_fraction
        self.on_delay_s = on_delay_s
        self.off_delay_s = off_delay_s
        self.latching = latching
        self.top = top
        self.s = MachineState()
        # level k -> time its condition last became true / false (None: not in that phase)
        self._true_since: dict[int, float | None] = {1: None, 2: None}
        self._false_since: dict[int, float | None] = {1: None, 2: None}
        self.value: float | None = None

    @property
    def warning_level(self) -> float | None:
        return self.level * self.warning_fraction if self.warning_fraction > 0 else None

    def _thresholds(self) -> dict[int, float]:
        out = {2: self.level}
        if self.warning_fraction > 0:
            out[1] = self.level * self.warning_fraction
        return out

    def _shown(self) -> State:
        if self.s.latched:
            return self.top
        return (State.NORMAL, State.WARNING, self.top)[self.s.active]

    def update(self, t: float, value: float | None) -> State | None:
        """Feed the measure's value at ``t`` (None: no data, timers only). Returns the new state if it changed."""
        if value is not None and not math.isnan(value):
            self.value = value
            for k, threshold in self._thresholds().items():
                # Hysteresis: a level reached stays while the value is above (1-h) x threshold.
                held = self.s.active >= k
                cond = value >= (threshold * (1 - self.hysteresis) if held else threshold)
                if cond:
                    self._false_since[k] = None
                    if self._true_since[k] is None:
                        self._true_since[k] = t
                else:
                    self._true_since[k] = None
                    if self._false_since[k] is None:
                        self._false_since[k] = t
        return self._advance(t)

    def _advance(self, t: float) -> State | None:
        active = 0
        for k in self._thresholds():
            if self.s.active >= k:
                false_since = self._false_since[k]
                fell = false_since is not None and t - false_since >= self.off_delay_s
                if not fell:
                    active = max(active, k)
            else:
                since = self._true_since[k]
                if since is not None and t - since >= self.on_delay_s:
                    active = max(active, k)
        before = self._shown()
        # Only a rising edge latches: an alarm acknowledged while the value is still
        # high stays released for the rest of its episode; it clears when the value
        # falls, and the next rise latches again.
        if active == 2 and self.s.active < 2 and self.latching:
            self.s.latched = True
        self.s.active = active
        after = self._shown()
        if after == before:
            return None
        if rank(after) > rank(before) or after == State.NORMAL:
            self.s.acknowledged = False
            self.s.acknowledged_by = None
            self.s.acknowledged_at = None
            self.s.comment = ""
        self.s.state = after
        self.s.since = t
        return after

    def acknowledge(self, t: float, by: str, comment: str = "") -> tuple[bool, str]:
        """Acknowledge the current state; releases a latch. (accepted, reason)."""
        if self._shown() == State.NORMAL:
            return False, "nothing to acknowledge (state is normal)"
        self.s.acknowledged = True
        self.s.acknowledged_by = by
        self.s.acknowledged_at = t
        self.s.comment = comment
        if self.s.latched:
            self.s.latched = False
            after = self._shown()
            if after != self.s.state:
                self.s.state = after
                self.s.since = t
                if after == State.NORMAL:
                    # the episode is over; the ack stays on the event, not on the new state
                    self.s.acknowledged = True
        return True, "acknowledged"

    def restore(self, saved: MachineState) -> None:
        """Continue from a state read back from the journal; delay timers start afresh."""
        self.s = MachineState(**asdict(saved))
        # The value is taken to be where the state says until the next update shows
        # otherwise: a restored alarm whose value is still high is the same episode,
        # not a new rising edge (an acknowledged one does not latch again).
        self.s.active = rank(saved.state)


# -- measures --------------------------------------------------------------------------------


class TimeWeightedWindow:
    """Time-weighted mean over a rolling window.

    A sample is the meter's mean over the interval that ends at its timestamp, so
    it stands for ``(t_prev, t]`` but at most ``max_gap_s`` (a longer gap is no
    data, not a long flat value). The mean divides by the covered time; it is
    None until ``min_coverage`` of the window is covered.
    """

    def __init__(self, window_s: float, *, max_gap_s: float, min_coverage: float = 0.0):
        self.window_s = window_s
        self.max_gap_s = max_gap_s
        self.min_coverage = min_coverage
        self._segments: deque[tuple[float, float, float]] = deque()  # (start, end, value)
        self._integral = 0.0
        self._covered = 0.0
        self.last_t: float | None = None

    def add(self, t: float, value: float) -> None:
        if self.last_t is not None and t > self.last_t:
            start = max(self.last_t, t - self.max_gap_s)
            self._segments.append((start, t, value))
            self._integral += value * (t - start)
            self._covered += t - start
        if self.last_t is None or t > self.last_t:
            self.last_t = t
        self._evict(t - self.window_s)

    def _evict(self, lo: float) -> None:
        while self._segments and self._segments[0][1] <= lo:
            start, end, value = self._segments.popleft()
            self._integral -= value * (end - start)
            self._covered -= end - start
        if not self._segments:
            self._integral = self._covered = 0.0

    def coverage(self, t: float) -> float:
        lo = t - self.window_s
        self._evict(lo)
        covered = self._covered
        if self._segments and self._segments[0][0] < lo:
            covered -= lo - self._segments[0][0]
        return covered

    def mean(self, t: float) -> float | None:
        lo = t - self.window_s
        self._evict(lo)
        integral, covered = self._integral, self._covered
        if self._segments and self._segments[0][0] < lo:
            start, _end, value = self._segments[0]
            integral -= value * (lo - start)
            covered -= lo - start
        if covered <= 0 or covered < self.min_coverage * self.window_s - 1e-9:
            return None
        return integral / covered


def period_start(start: str | date, t: float) -> float:
    """POSIX time the dose budget period containing ``t`` began (UTC)."""
    if start == "year":
        year = datetime.fromtimestamp(t, UTC).year
        return datetime(year, 1, 1, tzinfo=UTC).timestamp()
    assert isinstance(start, date)
    return datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()


@dataclass
class DoseBudgetState:
    period_start: float
    dose_uSv: float = 0.0
    covered_s: float = 0.0
    last_t: float | None = None


class DoseBudget:
    """Dose integrated since the period start, projected to a year of occupancy.

    ``projected_mSv = mean E over measured time x hours_per_year / 1000``: the
    dose a person present for the category's hours of stay would receive in a
    year at the rate seen so far.
    """

    def __init__(self, start: str | date, *, hours_per_year: float, max_gap_s: float, min_elapsed_s: float):
        self.start = start
        self.hours_per_year = hours_per_year
        self.max_gap_s = max_gap_s
        self.min_elapsed_s = min_elapsed_s
        self.s: DoseBudgetState | None = None

    def add(self, t: float, value_uSv_h: float) -> None:
        begin = period_start(self.start, t)
        # A new year starts a new period; so does a configured start that differs from the state's.
        if self.s is None or begin > self.s.period_start or (self.start != "year" and begin != self.s.period_start):
            self.s = DoseBudgetState(period_start=begin, last_t=self.s.last_t if self.s else None)
        s = self.s
        if t < s.period_start:
            s.last_t = t
            return
        if s.last_t is not None and t > s.last_t:
            dt = t - max(s.last_t, t - self.max_gap_s, s.period_start)
            if dt > 0:
                s.dose_uSv += value_uSv_h * dt / 3600.0
                s.covered_s += dt
        if s.last_t is None or t > s.last_t:
            s.last_t = t

    def projected_mSv(self) -> float | None:
        s = self.s
        if s is None or s.covered_s <= 0 or s.covered_s < self.min_elapsed_s:
            return None
        return s.dose_uSv / (s.covered_s / 3600.0) * self.hours_per_year / 1000.0


# -- one rule -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryLimits:
    """What a rule needs from the room category (profile table row)."""

    dmd_uSv_h: float
    dose_limit_mSv: float
    hours_per_year: float


@dataclass
class Observations:
    """Equipment facts at time t, gathered by the service (None: unknown)."""

    disconnected_s: float = 0.0
    stale_s: float = 0.0
    over_range: bool = False
    journal_bytes: int | None = None
    sink_backlog_rows: int | None = None
    sinks_failing: int | None = None  # sinks stopped by a fault retrying cannot mend (a wrong API)
    unsynchronised_s: float = 0.0


@dataclass
class Rule:
    """A configured rule of one channel: its measure and its state machine."""

    channel: str
    cfg: AlarmRule
    limits: CategoryLimits
    machine: StateMachine = field(init=False)
    unit: str = field(init=False)
    twa: TimeWeightedWindow | None = field(init=False, default=None)
    budget: DoseBudget | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        cfg = self.cfg
        top = State.ALARM
        if isinstance(cfg, TwaRule):
            level = cfg.level_uSv_h or self.limits.dmd_uSv_h
            self.unit = "uSv/h"
            self.twa = TimeWeightedWindow(cfg.window_s, max_gap_s=cfg.max_gap_s, min_coverage=cfg.min_coverage)
        elif isinstance(cfg, InstantRule):
            level = cfg.level_uSv_h
            self.unit = "uSv/h"
            self.twa = TimeWeightedWindow(cfg.window_s, max_gap_s=cfg.max_gap_s)
        elif isinstance(cfg, DoseBudgetRule):
            level = cfg.level_mSv or self.limits.dose_limit_mSv
            self.unit = "mSv"
            self.budget = DoseBudget(
                cfg.start,
                hours_per_year=cfg.hours_per_year or self.limits.hours_per_year,
                max_gap_s=cfg.max_gap_s,
                min_elapsed_s=cfg.min_elapsed_s,
            )
        else:
            top = State.FAULT
            level, self.unit = _equipment_level(cfg)
        self.machine = StateMachine(
            level=level,
            warning_fraction=cfg.warning,
            hysteresis_fraction=cfg.hysteresis_fraction,
            on_delay_s=cfg.on_delay_s,
            off_delay_s=cfg.off_delay_s,
            latching=cfg.latching,
            top=top,
        )

    @property
    def name(self) -> str:
        return str(self.cfg.name)

    @property
    def kind(self) -> str:
        return str(self.cfg.kind)

    @property
    def uses_samples(self) -> bool:
        return not isinstance(self.cfg, EquipmentRule)

    def add_sample(self, t: float, effective_uSv_h: float) -> None:
        """Feed one sample to the measure only (no state change): also used to replay the journal."""
        if self.twa is not None:
            self.twa.add(t, effective_uSv_h)
        elif self.budget is not None:
            self.budget.add(t, effective_uSv_h)

    def measure(self, t: float, obs: Observations | None = None) -> float | None:
        if self.twa is not None:
            return self.twa.mean(t)
        if self.budget is not None:
            return self.budget.projected_mSv()
        assert isinstance(self.cfg, EquipmentRule)
        return _equipment_value(self.cfg, obs or Observations())

    def evaluate(self, t: float, obs: Observations | None = None) -> Event | None:
        """Re-judge the rule at ``t``; the transition event if the state changed."""
        before = self.machine.s.state
        value = self.measure(t, obs)
        after = self.machine.update(t, value)
        if after is None:
            return None
        return self._event("transition", t, before)

    def acknowledge(self, t: float, by: str, comment: str = "") -> tuple[Event | None, str]:
        before = self.machine.s.state
        ok, reason = self.machine.acknowledge(t, by, comment)
        if not ok:
            return None, reason
        return self._event("ack", t, before), reason

    def _event(self, kind: str, t: float, previous: State) -> Event:
        s = self.machine.s
        return Event(
            event=kind,
            channel=self.channel,
            rule=self.name,
            kind=self.kind,
            t=t,
            state=s.state,
            previous=previous,
            value=self.machine.value,
            level=self.machine.level,
            warning_level=self.machine.warning_level,
            unit=self.unit,
            since=s.since,
            acknowledged=s.acknowledged,
            latched=s.latched,
            acknowledged_by=s.acknowledged_by,
            acknowledged_at=s.acknowledged_at,
            comment=s.comment,
        )


def _equipment_level(cfg: EquipmentRule) -> tuple[float, str]:
    if cfg.check in ("disconnected", "stale", "clock"):
        return max(cfg.after_s, 1e-9), "s"
    if cfg.check == "over_range":
        return 1.0, "flag"
    if cfg.check == "journal_size":
        assert cfg.max_bytes is not None
        return float(cfg.max_bytes), "bytes"
    if cfg.check == "sink_failing":
        return 1.0, "sinks"
    assert cfg.max_rows is not None
    return float(cfg.max_rows), "rows"


def _equipment_value(cfg: EquipmentRule, obs: Observations) -> float | None:
    match cfg.check:
        case "disconnected":
            return obs.disconnected_s
        case "stale":
            return obs.stale_s
        case "over_range":
            return 1.0 if obs.over_range else 0.0
        case "journal_size":
            return None if obs.journal_bytes is None else float(obs.journal_bytes)
        case "sink_backlog":
            return None if obs.sink_backlog_rows is None else float(obs.sink_backlog_rows)
        case "sink_failing":
            return None if obs.sinks_failing is None else float(obs.sinks_failing)
        case "clock":
            return obs.unsynchronised_s
    return None
