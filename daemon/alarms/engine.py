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
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from radsurvey.config.alarms import AlarmRule, DoseBudgetRule, EquipmentRule, InstantRule, TwaRule

from .basis import BASIS


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

    def shift_timers(self, step: float) -> None:
        """The wall clock stepped by ``step``: move the on/off delay timers so they keep their length."""
        for timers in (self._true_since, self._false_since):
            for k, since in timers.items():
                if since is not None:
                    timers[k] = since + step

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


# The window of a twa/instant rule and of a rolling dose budget is held in this many
# time buckets at most (plus the two partial ones at the edges): memory is bounded
# by the bucket count, not by the samples per window (issue 14).
BUCKETS_PER_WINDOW = 1000


class BucketedIntegral:
    """The integral of a piecewise-constant value, and the time it covers, over a rolling window.

    Time is cut into buckets of ``bucket_s`` (aligned on multiples of it); each
    bucket keeps the exact sums of the pieces of segments that fall in it and the
    span those pieces cover. A window's total is the sum of the buckets inside
    it, plus the part of the oldest bucket after the window's start, taken pro
    rata over that bucket's covered span: exact when the bucket holds one
    constant piece, otherwise off by at most that one bucket's sums (the bucket
    resolution). Memory: at most ``window_s / bucket_s + 2`` buckets.
    """

    def __init__(self, window_s: float, *, bucket_s: float | None = None):
        self.window_s = window_s
        self.bucket_s = bucket_s if bucket_s is not None else window_s / BUCKETS_PER_WINDOW
        # [index, integral, covered, lo, hi]: sums of the bucket and the span its pieces cover
        self._buckets: deque[list[float]] = deque()
        self._integral = 0.0
        self._covered = 0.0

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    def add(
        self, start: float, end: float, value: float, weight: Callable[[float, float], float] | None = None
    ) -> None:
        """Add ``value`` held over ``(start, end]``; ``weight(a, b)``: seconds of (a, b] that count (default all)."""
        a = start
        while a < end:
            index = math.floor(a / self.bucket_s)
            if (index + 1) * self.bucket_s <= a:  # a / bucket_s rounded down across a bucket edge
                index += 1
            b = min(end, (index + 1) * self.bucket_s)
            counted = (b - a) if weight is None else weight(a, b)
            integral = value * counted
            last = self._buckets[-1] if self._buckets else None
            if last is not None and last[0] == index:
                last[1] += integral
                last[2] += b - a
                last[3] = min(last[3], a)
                last[4] = max(last[4], b)
            else:
                self._buckets.append([float(index), integral, b - a, a, b])
            self._integral += integral
            self._covered += b - a
            a = b

    def evict(self, lo: float) -> None:
        """Forget the buckets wholly before ``lo``."""
        evicted = False
        while self._buckets and self._buckets[0][4] <= lo:
            self._buckets.popleft()
            evicted = True
        if evicted:
            # re-add from the buckets: running sums do not drift over months of adds and removals
            self._integral = math.fsum(bk[1] for bk in self._buckets)
            self._covered = math.fsum(bk[2] for bk in self._buckets)

    def totals(self, lo: float) -> tuple[float, float]:
        """(integral, covered seconds) after ``lo``."""
        self.evict(lo)
        integral, covered = self._integral, self._covered
        if self._buckets and self._buckets[0][3] < lo:
            _index, b_integral, b_covered, b_lo, b_hi = self._buckets[0]
            outside = (lo - b_lo) / (b_hi - b_lo)
            integral -= b_integral * outside
            covered -= b_covered * outside
        return integral, max(covered, 0.0)


class TimeWeightedWindow:
    """Time-weighted mean over a rolling window, held in time buckets.

    A sample is the meter's mean over the interval that ends at its timestamp, so
    it stands for ``(t_prev, t]`` but at most ``max_gap_s`` (a longer gap is no
    data, not a long flat value). The mean divides by the covered time; it is
    None until ``min_coverage`` of the window is covered.
    """

    def __init__(
        self,
        window_s: float,
        *,
        max_gap_s: float,
        min_coverage: float = 0.0,
        schedule: WeeklySchedule | None = None,
    ):
        """``schedule``: average over its weekly hours only (a window longer than a working day, docs/alarms.md)."""
        self.window_s = window_s
        self.max_gap_s = max_gap_s
        self.min_coverage = min_coverage
        self.schedule = schedule
        self._sums = BucketedIntegral(window_s)
        self._occupied = BucketedIntegral(window_s) if schedule is not None else None  # occupied seconds covered
        self.last_t: float | None = None

    @property
    def bucket_count(self) -> int:
        return self._sums.bucket_count

    def add(self, t: float, value: float) -> None:
        if self.last_t is not None and t > self.last_t:
            start = max(self.last_t, t - self.max_gap_s)
            if self.schedule is None or self._occupied is None:
                self._sums.add(start, t, value)
            else:
                self._sums.add(start, t, value, self.schedule.occupied_s)
                self._occupied.add(start, t, 1.0, self.schedule.occupied_s)
        if self.last_t is None or t > self.last_t:
            self.last_t = t
        self._sums.evict(t - self.window_s)
        if self._occupied is not None:
            self._occupied.evict(t - self.window_s)

    def coverage(self, t: float) -> float:
        return self._sums.totals(t - self.window_s)[1]

    def mean(self, t: float) -> float | None:
        integral, covered = self._sums.totals(t - self.window_s)
        if self.schedule is not None and self._occupied is not None:
            # over the occupied hours only: their dose divided by their measured seconds
            occupied = self._occupied.totals(t - self.window_s)[0]
            wanted = self.schedule.occupied_s(t - self.window_s, t)
            if occupied <= 0 or occupied < self.min_coverage * wanted - 1e-9:
                return None
            return integral / occupied
        if covered <= 0 or covered < self.min_coverage * self.window_s - 1e-9:
            return None
        return integral / covered


class WeeklySchedule:
    """Hours of presence each week, in a local time zone (daylight saving time included)."""

    def __init__(self, intervals: Iterable[tuple[int, int, int]], tz: tzinfo):
        """``intervals``: (weekday 0 = Monday, start minute, end minute) of local time, end <= 1440."""
        self.intervals = tuple(sorted(intervals))
        self.tz = tz
        self._days: dict[date, tuple[tuple[float, float], ...]] = {}

    @property
    def hours_per_week(self) -> float:
        return sum(end - start for _d, start, end in self.intervals) / 60.0

    def _day(self, day: date) -> tuple[tuple[float, float], ...]:
        spans = self._days.get(day)
        if spans is None:
            midnight = datetime(day.year, day.month, day.day)
            spans = tuple(
                (
                    (midnight + timedelta(minutes=start)).replace(tzinfo=self.tz).timestamp(),
                    (midnight + timedelta(minutes=end)).replace(tzinfo=self.tz).timestamp(),
                )
                for weekday, start, end in self.intervals
                if weekday == day.weekday()
            )
            if len(self._days) > 64:
                self._days.clear()
            self._days[day] = spans
        return spans

    def occupied_s(self, a: float, b: float) -> float:
        """Seconds of (a, b] inside the schedule."""
        if b <= a:
            return 0.0
        day = datetime.fromtimestamp(a, self.tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(b, self.tz).date()
        total = 0.0
        while day <= last:
            for lo, hi in self._day(day):
                total += max(0.0, min(b, hi) - max(a, lo))
            day += timedelta(days=1)
        return total


PERIOD_S = {"week": 7 * 86400.0, "13_weeks": 91 * 86400.0}


def period_start(start: str | date, t: float) -> float:
    """POSIX time the dose budget's year period containing ``t`` began (UTC)."""
    if start == "year":
        year = datetime.fromtimestamp(t, UTC).year
        return datetime(year, 1, 1, tzinfo=UTC).timestamp()
    assert isinstance(start, date)
    return datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp()


def year_length_s(period_begin: float) -> float:
    """Seconds from ``period_begin`` to the same date a year later (365 or 366 days)."""
    begin = datetime.fromtimestamp(period_begin, UTC)
    try:
        after = begin.replace(year=begin.year + 1)
    except ValueError:  # 29 February
        after = begin.replace(year=begin.year + 1, day=28) + timedelta(days=1)
    return after.timestamp() - period_begin


@dataclass
class DoseBudgetState:
    period_start: float
    dose_uSv: float = 0.0  # counted dose (inside the schedule when there is one)
    covered_s: float = 0.0  # measured time, schedule or not
    last_t: float | None = None


class DoseBudget:
    """The dose of the period, projected to the whole period, of a person at this place.

    ``period`` is ``year`` (a calendar year from 1 January UTC, or from the date
    ``start``), ``week`` (rolling 7 days) or ``13_weeks`` (rolling 91 days). The
    dose integrated over the measured time of the period is extrapolated to the
    period's length: ``projected_mSv = T x D_counted / t_measured x t_period``.
    Without a schedule every measured second counts and T = 1: a person present
    whenever radiation is present (conservative). With a schedule only the
    dose inside its hours counts, times the occupancy factor T.
    """

    def __init__(
        self,
        start: str | date,
        *,
        max_gap_s: float,
        min_elapsed_s: float,
        period: str = "year",
        schedule: WeeklySchedule | None = None,
        occupancy_factor: float = 1.0,
    ):
        self.start = start
        self.period = period
        self.max_gap_s = max_gap_s
        self.min_elapsed_s = min_elapsed_s
        self.schedule = schedule
        self.occupancy_factor = occupancy_factor
        self.s: DoseBudgetState | None = None  # the year period
        self.window: BucketedIntegral | None = None  # a rolling period
        self.last_t: float | None = None
        if period != "year":
            self.window = BucketedIntegral(PERIOD_S[period])

    @property
    def period_s(self) -> float:
        if self.window is not None:
            return self.window.window_s
        assert self.s is not None
        return year_length_s(self.s.period_start)

    def _weight(self) -> Callable[[float, float], float] | None:
        return self.schedule.occupied_s if self.schedule is not None else None

    def add(self, t: float, value_uSv_h: float) -> None:
        if self.window is not None:
            if self.last_t is not None and t > self.last_t:
                self.window.add(max(self.last_t, t - self.max_gap_s), t, value_uSv_h / 3600.0, self._weight())
            if self.last_t is None or t > self.last_t:
                self.last_t = t
            self.window.evict(t - self.window.window_s)
            return
        begin = period_start(self.start, t)
        # A new year starts a new period; so does a configured start that differs from the state's.
        if self.s is None or begin > self.s.period_start or (self.start != "year" and begin != self.s.period_start):
            self.s = DoseBudgetState(period_start=begin, last_t=self.s.last_t if self.s else None)
        s = self.s
        if t < s.period_start:
            s.last_t = t
            return
        if s.last_t is not None and t > s.last_t:
            a = max(s.last_t, t - self.max_gap_s, s.period_start)
            if t > a:
                counted = t - a if self.schedule is None else self.schedule.occupied_s(a, t)
                s.dose_uSv += value_uSv_h * counted / 3600.0
                s.covered_s += t - a
        if s.last_t is None or t > s.last_t:
            s.last_t = t
        self.last_t = s.last_t

    def totals(self, t: float | None = None) -> tuple[float, float] | None:
        """(counted dose in uSv, measured seconds) of the current period."""
        if self.window is not None:
            at = self.last_t if t is None else max(t, self.last_t or t)
            if at is None:
                return None
            return self.window.totals(at - self.window.window_s)
        if self.s is None:
            return None
        return self.s.dose_uSv, self.s.covered_s

    def projected_mSv(self, t: float | None = None) -> float | None:
        totals = self.totals(t)
        if totals is None:
            return None
        dose_uSv, covered_s = totals
        if covered_s <= 0 or covered_s < self.min_elapsed_s:
            return None
        return self.occupancy_factor * dose_uSv / covered_s * self.period_s / 1000.0


# -- one rule -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryLimits:
    """What a rule needs from the room category (profile table row)."""

    dmd_uSv_h: float
    dose_limit_mSv: float
    occupancy_factor: float | None = None  # T of the category (kz-2008-303 App. 7), if the profile has it
    occupancy_source: str = ""
    dose_limit_source: str = ""


@dataclass(frozen=True)
class NamedLimit:
    """A dose limit of a profile's ``limits`` table, as a dose budget uses it."""

    ref: str  # "<profile id>/<key>"
    value_mSv: float
    period: str
    source: str


@dataclass(frozen=True)
class BudgetPlan:
    """What a dose budget judges: the period, the level and whose presence it projects."""

    period: str
    level_mSv: float
    level_source: str
    occupancy_factor: float
    occupancy_source: str
    schedule: WeeklySchedule | None


def plan_budget(cfg: DoseBudgetRule, limits: CategoryLimits, named: NamedLimit | None = None) -> BudgetPlan:
    """The budget a rule describes; ValueError saying what is missing or inconsistent."""
    period = cfg.period or (named.period if named is not None else "year")
    if named is not None and named.period != period:
        raise ValueError(f"limit {named.ref} is per {named.period}, but period is {period!r}")
    if cfg.level_mSv is not None:
        level, source = cfg.level_mSv, "level_mSv in the config"
    elif named is not None:
        level, source = named.value_mSv, f"{named.ref}: {named.source}"
    elif period == "year":
        level, source = limits.dose_limit_mSv, limits.dose_limit_source or "the room category's annual dose limit"
    else:
        raise ValueError(
            f"a {period} period needs level_mSv or limit (a profile's {period} limit): "
            "the room category gives an annual limit only"
        )
    schedule: WeeklySchedule | None = None
    factor, factor_source = 1.0, "no occupancy schedule: a person present whenever radiation is present (T = 1)"
    occ = cfg.occupancy
    if occ is not None:
        from zoneinfo import ZoneInfo

        schedule = WeeklySchedule(occ.intervals(), ZoneInfo(occ.timezone))
        if occ.occupancy_factor == "category":
            if limits.occupancy_factor is None:
                raise ValueError(
                    "occupancy_factor = 'category' but the profile gives no occupancy factor T for this "
                    "room category; give a number"
                )
            factor, factor_source = limits.occupancy_factor, limits.occupancy_source
        else:
            factor, factor_source = float(occ.occupancy_factor), "occupancy_factor in the config"
    return BudgetPlan(period, level, source, factor, factor_source, schedule)


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
    plan: BudgetPlan | None = None  # dose budgets: resolved by the service (plan_budget) or from cfg and limits
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
            schedule = None
            if cfg.occupancy is not None:
                from zoneinfo import ZoneInfo

                schedule = WeeklySchedule(cfg.occupancy.intervals(), ZoneInfo(cfg.occupancy.timezone))
            self.twa = TimeWeightedWindow(
                cfg.window_s, max_gap_s=cfg.max_gap_s, min_coverage=cfg.min_coverage, schedule=schedule
            )
        elif isinstance(cfg, InstantRule):
            level = cfg.level_uSv_h
            self.unit = "uSv/h"
            self.twa = TimeWeightedWindow(cfg.window_s, max_gap_s=cfg.max_gap_s)
        elif isinstance(cfg, DoseBudgetRule):
            plan = self.plan if self.plan is not None else plan_budget(cfg, self.limits)
            self.plan = plan
            level = plan.level_mSv
            self.unit = "mSv"
            self.budget = DoseBudget(
                cfg.start,
                period=plan.period,
                max_gap_s=cfg.max_gap_s,
                min_elapsed_s=cfg.min_elapsed_s,
                schedule=plan.schedule,
                occupancy_factor=plan.occupancy_factor,
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
    def basis(self) -> str:
        return BASIS.get(self.kind, "")

    @property
    def uses_samples(self) -> bool:
        return not isinstance(self.cfg, EquipmentRule)

    def add_sample(self, t: float, measured_effective_uSv_h: float) -> None:
        """Feed one measured E to the measure only (no state change): also used to replay the journal.

        The measured E is the real dose rate (calibrated, background-subtracted,
        E = 0.5 x D), never the value normalised to a standard workload.
        """
        if self.twa is not None:
            self.twa.add(t, measured_effective_uSv_h)
        elif self.budget is not None:
            self.budget.add(t, measured_effective_uSv_h)

    def shift_timers(self, step: float) -> None:
        """The wall clock stepped by ``step``: the delay timers keep their length, and the next sample is taken
        as following the last one (its time is on the new clock). The window's stored buckets keep their times."""
        self.machine.shift_timers(step)
        if self.twa is not None and self.twa.last_t is not None:
            self.twa.last_t += step
        if self.budget is not None:
            if self.budget.s is not None and self.budget.s.last_t is not None:
                self.budget.s.last_t += step
            if self.budget.last_t is not None:
                self.budget.last_t += step

    def measure(self, t: float, obs: Observations | None = None) -> float | None:
        if self.twa is not None:
            return self.twa.mean(t)
        if self.budget is not None:
            return self.budget.projected_mSv(t)
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
