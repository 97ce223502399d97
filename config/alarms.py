"""Alarm rules and the alarm service's settings (see docs/alarms.md).

Rules are data: each channel lists its rules as ``[[channels.alarms]]`` tables,
each with a ``kind`` (twa, instant, dose_budget, equipment) and the common
state-machine options (warning fraction, hysteresis, on/off delay, latching).
The site-wide ``[alarms]`` section holds what is not per rule: the local command
run on every state change, and the MQTT acknowledgement subscription.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

AlarmState = Literal["normal", "warning", "alarm", "fault"]
ALARM_STATES: tuple[AlarmState, ...] = ("normal", "warning", "alarm", "fault")
_RULE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# The longest twa window (our choice: a working day, one shift). DMD_E is a rate over the 30 beam-hours of
# formula (1)'s standard week (1800 min): 30 beam-hours at 10 uSv/h average 10 over an hour, 1.79 over a week.
WORKING_DAY_S = 8 * 3600.0
WEEK_S = 7 * 24 * 3600.0


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str  # each rule kind narrows this to its Literal (the union's discriminator)
    id: str | None = Field(None, description="rule name, unique per channel; default: the kind (or the check)")
    warning_fraction: float | None = Field(
        None, ge=0, le=1, description="warning at this fraction of the level; 0 disables the warning state"
    )
    hysteresis_fraction: float = Field(
        0.1, ge=0, lt=1, description="a state clears only when the value falls below (1 - h) * its threshold"
    )
    on_delay_s: float = Field(0.0, ge=0, le=86_400, description="condition must hold this long before a state rises")
    off_delay_s: float = Field(
        0.0, ge=0, le=86_400, description="condition must be gone this long before a state falls"
    )
    latching: bool = Field(False, description="an alarm stays until acknowledged, even after the value returns")

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str | None) -> str | None:
        if value is not None and not _RULE_ID.match(value):
            raise ValueError("must be 1-64 characters of letters, digits, '_', '.', '-'")
        return value

    @property
    def name(self) -> str:
        return self.id or self.kind

    default_warning: ClassVar[float] = 0.5

    @property
    def warning(self) -> float:
        return self.default_warning if self.warning_fraction is None else self.warning_fraction


class TwaRule(_Rule):
    """Time-weighted average of E over a rolling window against the category's DMD_E."""

    kind: Literal["twa"]
    window_s: float = Field(
        3600.0,
        ge=1,
        le=WEEK_S,
        description=(
            "1 s to a working day (8 h); up to a week only with an occupancy schedule: DMD_E is a rate over the "
            "30-hour week of formula (1), so a longer mean over every hour dilutes beam-hours with empty ones "
            "(docs/alarms.md)"
        ),
    )
    occupancy: OccupancyConfig | None = Field(
        None,
        description="average over these weekly hours only (their occupancy_factor is not used by a twa rule)",
    )
    level_uSv_h: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="default: DMD_E of the room category"
    )
    min_coverage: float = Field(
        0.5, gt=0, le=1, description="fraction of the window that must hold samples before the average is judged"
    )
    max_gap_s: float = Field(
        300.0, gt=0, le=86_400, description="a sample stands for at most this long (longer gaps are no data)"
    )
    default_warning: ClassVar[float] = 0.5

    @model_validator(mode="after")
    def _working_day_unless_occupied(self) -> TwaRule:
        if self.window_s > WORKING_DAY_S and self.occupancy is None:
            raise ValueError(
                f"window_s {self.window_s:g} s is longer than a working day ({WORKING_DAY_S:g} s): DMD_E is a rate "
                "over the 30-hour week of formula (1), and a mean over every hour of a longer window dilutes it "
                "(30 beam-hours at 10 uSv/h: 10 over an hour, 1.79 over a week); tie the window to when people are "
                "there with [channels.alarms.occupancy], or use at most 28800"
            )
        return self


class InstantRule(_Rule):
    """Short rolling mean of E above a user-set level (a door opened during exposure)."""

    kind: Literal["instant"]
    window_s: float = Field(10.0, gt=0, le=3600)
    level_uSv_h: float = Field(gt=0, allow_inf_nan=False, description="required: no regulation sets it")
    max_gap_s: float = Field(60.0, gt=0, le=86_400)
    default_warning: ClassVar[float] = 0.8


_DAY_SPEC = re.compile(r"^(?P<days>[a-z,-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _minute(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day (00:00-24:00)")
    return hours * 60 + minutes


def _days(text: str) -> list[int]:
    if text == "daily":
        return list(range(7))
    out: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise ValueError(f"{part!r}: days are mon..sun, 'mon-fri', 'sat,sun' or 'daily'")
        a, b = _WEEKDAYS.index(first), _WEEKDAYS.index(last or first)
        if b < a:
            raise ValueError(f"{part!r}: a day range runs forward (mon-fri)")
        out += range(a, b + 1)
    return out


def parse_weekly_hours(spec: str) -> list[tuple[int, int, int]]:
    """``"mon-fri 08:00-17:00"`` -> [(weekday, start minute, end minute), ...] (Monday = 0)."""
    m = _DAY_SPEC.match(spec.strip().lower())
    if m is None:
        raise ValueError(f"{spec!r}: write '<days> HH:MM-HH:MM', e.g. 'mon-fri 08:00-17:00'")
    start, end = _minute(m["start"]), _minute(m["end"])
    if end <= start:
        raise ValueError(f"{spec!r}: the end must be after the start (split a night shift in two entries)")
    return [(day, start, end) for day in _days(m["days"])]


class OccupancyConfig(BaseModel):
    """When a person is at the place: weekly hours in a local time zone, and the occupancy factor T."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field(description="IANA time zone of the hours, e.g. 'Asia/Almaty' (daylight saving applies)")
    hours: list[str] = Field(min_length=1, description="weekly hours, e.g. ['mon-fri 08:00-17:00', 'sat 09:00-13:00']")
    occupancy_factor: Literal["category"] | Annotated[float, Field(gt=0, le=1)] = Field(
        "category",
        description="'category': T of the room category from the profile (kz-2008-303 App. 7); or 0 < T <= 1",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Asia/Almaty')") from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: list[str]) -> list[str]:
        seen: list[tuple[int, int, int]] = []
        for spec in value:
            for day, start, end in parse_weekly_hours(spec):
                for d2, s2, e2 in seen:
                    if d2 == day and start < e2 and s2 < end:
                        raise ValueError(f"{spec!r} overlaps another entry on {_WEEKDAYS[day]}")
                seen.append((day, start, end))
        return value

    def intervals(self) -> list[tuple[int, int, int]]:
        return [item for spec in self.hours for item in parse_weekly_hours(spec)]


DosePeriod = Literal["year", "week", "13_weeks"]
_LIMIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[a-z][a-z0-9_]*$")


class DoseBudgetRule(_Rule):
    """The period's dose at this place, projected to the whole period, against a dose limit (docs/alarms.md)."""

    kind: Literal["dose_budget"]
    period: DosePeriod | None = Field(
        None,
        description=(
            "'year' (calendar), 'week' (rolling 7 days), '13_weeks' (rolling 91 days); default: the limit's, else year"
        ),
    )
    start: Literal["year"] | date = Field(
        "year", description="year period: 'year' (1 January UTC, every year) or a date the period starts from"
    )
    limit: str | None = Field(
        None, description="a profile's dose limit as '<profile id>/<limit key>', e.g. 'ir-1973-limits/whole_body_week'"
    )
    level_mSv: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="default: the limit named by `limit`, else the category's annual limit",
    )
    occupancy: OccupancyConfig | None = Field(
        None, description="default: none (a person present whenever radiation is present, T = 1)"
    )
    hours_per_year: float | None = Field(None, description="removed in 0.2: see `occupancy`")
    min_elapsed_s: float = Field(3600.0, ge=0, description="judge only after this much measured time")
    max_gap_s: float = Field(300.0, gt=0, le=86_400)
    default_warning: ClassVar[float] = 0.3

    @field_validator("limit")
    @classmethod
    def _limit_ref(cls, value: str | None) -> str | None:
        if value is not None and not _LIMIT_REF.match(value):
            raise ValueError("write '<profile id>/<limit key>', e.g. 'ir-1973-limits/whole_body_week'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DoseBudgetRule:
        if self.hours_per_year is not None:
            raise ValueError(
                "hours_per_year is no longer used: the budget projects the measured dose to the whole period "
                "(a person present whenever radiation is), or, with [occupancy], for a person present in its "
                "weekly hours times the occupancy factor T (docs/alarms.md)"
            )
        if self.start != "year" and self.period not in (None, "year"):
            raise ValueError("start applies to the year period only")
        return self


Check = Literal["disconnected", "stale", "over_range", "journal_size", "sink_backlog", "sink_failing", "clock"]


class EquipmentRule(_Rule):
    """A condition of the equipment rather than of the dose rate: raises ``fault``."""

    kind: Literal["equipment"]
    check: Check
    after_s: float = Field(60.0, ge=0, le=86_400, description="disconnected/stale/clock: how long before it counts")
    max_bytes: int | None = Field(
        None, gt=0, description="journal_size: the size limit of the journal files; default [retention] max_size_mb"
    )
    max_rows: int | None = Field(None, gt=0, description="sink_backlog: rows not yet acknowledged by the slowest sink")
    default_warning: ClassVar[float] = 0.0

    @model_validator(mode="after")
    def _needs(self) -> EquipmentRule:
        # journal_size without max_bytes takes [retention] max_size_mb (checked with the whole config)
        if self.check == "sink_backlog" and self.max_rows is None:
            raise ValueError("check 'sink_backlog' needs max_rows")
        return self

    @property
    def name(self) -> str:
        return self.id or self.check


TwaRule.model_rebuild()  # its occupancy field names OccupancyConfig, defined after it

AlarmRule = Annotated[TwaRule | InstantRule | DoseBudgetRule | EquipmentRule, Field(discriminator="kind")]


class CommandAction(BaseModel):
    """A local program run on every state change (relay, buzzer, warning light)."""

    model_config = ConfigDict(extra="forbid")

    argv: list[str] = Field(min_length=1, description="program and arguments; no shell is involved")
    timeout_s: float = Field(10.0, gt=0, le=600)
    states: list[AlarmState] = Field(
        default_factory=lambda: list(ALARM_STATES),
        description="run only for changes into these states",
    )


class MqttAckConfig(BaseModel):
    """Acknowledgement over MQTT: ``{prefix}/{site}/channels/{channel}/alarm/ack``.

    The listener has its own connection, but what is not set here comes from
    ``[mqtt]``: host, port, prefix, TLS (always ``[mqtt]``'s) and the account
    (username with its password) unless this section names its own.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    host: str | None = Field(None, description="default: [mqtt] host, else 127.0.0.1")
    port: int | None = Field(None, ge=1, le=65535, description="default: [mqtt] port, else 1883")
    prefix: str | None = Field(None, description="default: [mqtt] prefix, else radsurvey")
    username: str | None = Field(None, description="own broker account; default: [mqtt]'s account and password")
    password_env: str | None = Field(None, description="environment variable holding this account's password")
    password_file: Path | None = Field(None, description="file holding this account's password (mode 0600)")
    client_id: str | None = None
    allowed_users: list[str] = Field(default_factory=list, description="if not empty, only these names may acknowledge")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600)
    keys_file: Path | None = Field(
        None,
        description=(
            "signing keys, one 'user:secret' line each, mode 0600 (docs/alarms.md); when set, "
            "only acknowledgements signed with the key of their 'by' are accepted"
        ),
    )
    max_skew_s: float = Field(
        300.0, ge=5, le=3600, description="a signed acknowledgement's ts may differ from our clock by at most this"
    )
    nonce_file: Path | None = Field(
        None, description="where the nonces seen are kept across restarts; default: the journal path + '.ack-nonces'"
    )
    accept_unsigned: bool = Field(
        False,
        description=(
            "accept unsigned acknowledgements (who published is then the broker's word); only honoured while the "
            "broker refuses clients without an account at connect, checked at every (re)connection (docs/alarms.md)"
        ),
    )
    probe_timeout_s: float = Field(
        2.0, gt=0, le=30, description="how long the start-up check waits for the broker to answer an anonymous client"
    )

    @model_validator(mode="after")
    def _password_with_its_account(self) -> MqttAckConfig:
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError(
                "password_env/password_file go with username here (leave all three out to use [mqtt]'s account)"
            )
        if self.enabled and self.keys_file is None and not self.accept_unsigned:
            raise ValueError(
                "enabled = true needs keys_file (signed acknowledgements), or accept_unsigned = true on a broker "
                "that refuses clients without an account (docs/alarms.md, 'Who acknowledged?')"
            )
        return self


class AlarmsConfig(BaseModel):
    """Site-wide alarm settings; the rules themselves are under each channel."""

    model_config = ConfigDict(extra="forbid")

    command: CommandAction | None = None
    ack_poll_interval_s: float = Field(1.0, gt=0, le=60, description="how often CLI acknowledgements are picked up")
    tick_interval_s: float = Field(1.0, gt=0, le=60, description="how often delays and equipment checks are evaluated")
    snapshot_interval_s: float = Field(60.0, gt=0, le=3600, description="how often rule state (dose budget) is saved")
    mqtt_ack: MqttAckConfig = MqttAckConfig()


def check_unique_rule_names(channel_id: str, rules: list[AlarmRule]) -> list[str]:
    seen: set[str] = set()
    problems = []
    for rule in rules:
        if rule.name in ("action", "journal_write", "journal_damaged"):
            problems.append(
                f"channels[{channel_id}].alarms: rule name {rule.name!r} is reserved"
                " (the local command's health, the journal's commits, a damaged journal)"
            )
        if rule.name in seen:
            problems.append(f"channels[{channel_id}].alarms: duplicate rule {rule.name!r} (give each an id)")
        seen.add(rule.name)
    return problems


def check_dose_budgets(channel_id: str, protocol: str, room_category: int, rules: list[AlarmRule]) -> list[str]:
    """One line per dose budget rule whose level, period or occupancy factor cannot be worked out."""
    from radsurvey.protocols import profiles
    from radsurvey.protocols.errors import ProfileError

    problems = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, DoseBudgetRule):
            continue
        where = f"channels[{channel_id}].alarms[{i}]"
        period = rule.period
        if rule.limit is not None:
            profile_id, _, key = rule.limit.rpartition("/")
            try:
                limit = profiles.get_dose_limit(profile_id, key)
            except ProfileError as err:
                problems.append(f"{where}.limit: {err.message}")
                continue
            if period is not None and period != limit.period:
                problems.append(f"{where}: limit {rule.limit} is per {limit.period}, but period is {period!r}")
            period = limit.period
        if (period or "year") != "year" and rule.level_mSv is None and rule.limit is None:
            problems.append(
                f"{where}: a {period} period needs level_mSv or limit (a profile's {period} limit): "
                "the room category gives an annual limit only"
            )
        if rule.occupancy is not None and rule.occupancy.occupancy_factor == "category":
            try:
                category = profiles.get_profile(protocol).category(room_category)
            except ProfileError:
                continue  # the channel's protocol is reported where it is used
            if category is not None and category.occupancy_factor is None:
                problems.append(
                    f"{where}.occupancy.occupancy_factor: profile {protocol} gives no occupancy factor T for "
                    f"room category {room_category}; give a number"
                )
    return problems


def with_journal_limit(rules: list[AlarmRule], max_bytes: int | None, warning_fraction: float) -> list[AlarmRule]:
    """A channel's rules with the journal size bound of ``[retention] max_size_mb`` applied.

    A ``journal_size`` rule without ``max_bytes`` takes the retention limit (and,
    without its own ``warning_fraction``, the retention ``warn_fraction``); a
    channel without any ``journal_size`` rule gets one, so that the configured
    bound raises an alarm by itself.
    """
    if max_bytes is None:
        return list(rules)
    out: list[AlarmRule] = []
    for rule in rules:
        if isinstance(rule, EquipmentRule) and rule.check == "journal_size" and rule.max_bytes is None:
            update: dict[str, object] = {"max_bytes": max_bytes}
            if rule.warning_fraction is None:
                update["warning_fraction"] = warning_fraction
            rule = rule.model_copy(update=update)
        out.append(rule)
    has_check = any(isinstance(r, EquipmentRule) and r.check == "journal_size" for r in rules)
    if not has_check and all(r.name != "journal_size" for r in rules):
        out.append(
            EquipmentRule(
                kind="equipment", check="journal_size", max_bytes=max_bytes, warning_fraction=warning_fraction
            )
        )
    return out


def with_sink_check(rules: list[AlarmRule]) -> list[AlarmRule]:
    """A channel's rules plus ``sink_failing`` (a sink stopped by a fault retrying cannot mend), unless it has one."""
    if any(isinstance(r, EquipmentRule) and r.check == "sink_failing" for r in rules) or any(
        r.name == "sink_failing" for r in rules
    ):
        return list(rules)
    return [*rules, EquipmentRule(kind="equipment", check="sink_failing")]
