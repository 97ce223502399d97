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
    window_s: float = Field(3600.0, ge=1, le=WEEK_S)
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


class InstantRule(_Rule):
    """Short rolling mean of E above a user-set level (a door opened during exposure)."""

    kind: Literal["instant"]
    window_s: float = Field(10.0, gt=0, le=3600)
    level_uSv_h: float = Field(gt=0, allow_inf_nan=False, description="required: no regulation sets it")
    max_gap_s: float = Field(60.0, gt=0, le=86_400)
    default_warning: ClassVar[float] = 0.8


class DoseBudgetRule(_Rule):
    """Dose since ``start`` projected to a year of the category's occupancy, against its dose limit."""

    kind: Literal["dose_budget"]
    start: Literal["year"] | date = Field("year", description="'year' (1 January UTC of the current year) or a date")
    level_mSv: float | None = Field(None, gt=0, allow_inf_nan=False, description="default: the category's dose limit")
    hours_per_year: float | None = Field(None, gt=0, le=8784, description="default: the category's hours of stay")
    min_elapsed_s: float = Field(3600.0, ge=0, description="judge only after this much measured time")
    max_gap_s: float = Field(300.0, gt=0, le=86_400)
    default_warning: ClassVar[float] = 0.3


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

    @model_validator(mode="after")
    def _password_with_its_account(self) -> MqttAckConfig:
        if (self.password_env or self.password_file) and not self.username:
            raise ValueError(
                "password_env/password_file go with username here (leave all three out to use [mqtt]'s account)"
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
        if rule.name == "action":
            problems.append(
                f"channels[{channel_id}].alarms: rule name 'action' is reserved for the local command's health"
            )
        if rule.name in seen:
            problems.append(f"channels[{channel_id}].alarms: duplicate rule {rule.name!r} (give each an id)")
        seen.add(rule.name)
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
