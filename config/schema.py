"""The daemon configuration schema.

Every section forbids unknown keys, so a typo is an error and not a silent
default. Meter entries are the one exception: their extra keys are the driver's
options, validated against that driver's own model by the daemon.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .alarms import (
    AlarmRule,
    AlarmsConfig,
    EquipmentRule,
    check_dose_budgets,
    check_unique_rule_names,
    with_journal_limit,
    with_sink_check,
)
from .connection import ConnectionConfig
from .sinks import InfluxConfig, MqttConfig, RetentionConfig
from .web import WebConfig

# Home Assistant's expire_after must outlast a missed reading or two: our decision,
# not a rule of Home Assistant's (it accepts any positive number of seconds).
HA_EXPIRE_POLLS = 3
HA_EXPIRE_DEFAULT_S = 120

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_id(value: str) -> str:
    # Ids become MQTT topic levels and InfluxDB tags: no '/', '+', '#', spaces.
    if not _ID.match(value):
        raise ValueError("must be 1-64 characters of letters, digits, '_', '.', '-' (it becomes an MQTT topic level)")
    return value


def known_time_zone(value: str) -> str:
    """An IANA time zone name (or "" for the machine's); the site's and a survey's zone are checked alike."""
    if value:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Almaty)") from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SiteConfig(_Section):
    id: str = Field("site", description="site id; the MQTT topic root is {prefix}/{site}")
    name: str = ""
    description: str = ""
    timezone: str = Field(
        "",
        description="the site's IANA time zone (e.g. Asia/Almaty): the web console prints times in it, with the"
        " offset; default: this machine's zone",
    )

    _v_id = field_validator("id")(_check_id)

    _v_timezone = field_validator("timezone")(known_time_zone)


class JournalConfig(_Section):
    path: Path = Field(
        Path("radsurvey.sqlite"),
        description="SQLite journal; a relative path is under $STATE_DIRECTORY if set, else the working directory",
    )
    commit_interval_s: float = Field(
        10.0,
        gt=0,
        le=60,
        description=(
            "longest time a reading or sample waits to be committed, and so to be published (alarm changes and"
            " meter faults are committed at once); the default suits an SD card (docs/raspberry-pi.md, section 6),"
            " 1 s gives values live to the second on a PC's disk"
        ),
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="commit earlier once this many rows wait")
    synchronous: Literal["normal", "full"] = Field(
        "normal", description="SQLite synchronous mode: 'full' fsyncs every commit (safer on power loss, more SD wear)"
    )
    spill_dir: Path | None = Field(
        None,
        description=(
            "directory on another filesystem where rows the journal cannot commit at stop (disk full) are written"
        ),
    )
    full_check_at_open_max_mb: float = Field(
        16.0,
        ge=0,
        description=(
            "a journal up to this size is checked in full (SQLite quick_check) before acquiring; a larger one gets"
            " a bounded check at open and the full check in the background right after start (docs/configuration.md)"
        ),
    )

    def resolved_path(self, state_directory: str | None = None) -> Path:
        if self.path.is_absolute() or not state_directory:
            return self.path
        return Path(state_directory) / self.path


class FacilityConfig(_Section):
    """The facility record (docs/facility.md): rooms, surveys, holds; its alarms on the rooms' monitors."""

    path: Path | None = Field(
        None, description="the facility record (SQLite); default facility.sqlite beside the journal"
    )
    poll_interval_s: float = Field(
        30.0, gt=0, le=3600, description="how often the daemon re-reads the record for holds and overdue rooms"
    )

    def resolved_path(self, journal_path: Path) -> Path:
        if self.path is None:
            return journal_path.with_name("facility.sqlite")
        return self.path if self.path.is_absolute() else journal_path.parent / self.path


class ShutdownConfig(_Section):
    drain_s: float = Field(
        3.0,
        ge=0,
        le=30,
        description="on SIGTERM/SIGINT, how long the connected sinks may take to publish what is committed",
    )


class RuntimeConfig(_Section):
    """How ``radsurvey run`` sets up its Python process (docs/configuration.md#runtime; the figures in
    benchmarks/README.md, "Latency at 200 meters")."""

    gc_freeze_after_start: bool = Field(
        True,
        description=(
            "5 s after start, collect once and move every object alive then out of the garbage "
            "collector's view (gc.freeze), so later full collections do not walk them"
        ),
    )


class MeterConfig(BaseModel):
    """One meter. Keys other than these are the driver's options."""

    model_config = ConfigDict(extra="allow")

    id: str
    driver: str
    poll_interval_s: float = Field(1.0, gt=0, le=3600)
    enabled: bool = True
    connection: ConnectionConfig = Field(default_factory=ConnectionConfig)

    _v_id = field_validator("id")(_check_id)

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ChannelConfig(_Section):
    """A monitored location: one meter's readings judged against one room category."""

    id: str
    meter: str
    room_category: int = Field(description="row of the protocol's room-category table (kz-2008-303: 1-7)")
    protocol: str = "kz-2008-303"
    location: str = ""
    height_cm: float | None = Field(None, ge=0, le=500)
    calibration_factor: float = Field(1.0, gt=0, allow_inf_nan=False)
    background_uGy_h: float = Field(0.0, ge=0, allow_inf_nan=False)
    background_compensated: bool = Field(False, description="the meter subtracts background itself")
    averaging_window_s: float = Field(10.0, gt=0, le=86_400)
    anode_current_mA: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description=(
            "only for a channel measuring beam-on at a known current: E is then normalised to the standard "
            "workload (D / I x W / 1800, App. 14 formula 1); alarms always judge the measured E"
        ),
    )
    apparatus: str | None = None
    workload_mA_min_per_week: float | None = Field(None, gt=0, allow_inf_nan=False)
    sv_per_gy: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description=(
            "for meters reading H*(10) in uSv/h: uSv per uGy used to get air kerma (1.0 overestimates D, conservative)"
        ),
    )
    alarms: list[AlarmRule] = Field(default_factory=list, description="alarm rules of this channel (docs/alarms.md)")
    plausible_uSv_h: tuple[float, float] | None = Field(
        None,
        description=(
            "the meter's dose rate (uSv/h or uGy/h, as it reports it) outside [min, max] is a fault reading, kept "
            "for audit and used for nothing; default: 0 to the meter model's range maximum where the driver's "
            "model table knows it, else 0 to 1e7 (docs/drivers.md)"
        ),
    )

    _v_id = field_validator("id")(_check_id)

    @field_validator("plausible_uSv_h")
    @classmethod
    def _check_plausible(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None:
            lo, hi = value
            if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or hi <= lo:
                raise ValueError("must be [min, max] with 0 <= min < max, finite")
        return value

    @model_validator(mode="after")
    def _normalisation_complete(self) -> ChannelConfig:
        has_workload = self.apparatus is not None or self.workload_mA_min_per_week is not None
        if self.anode_current_mA is not None and not has_workload:
            raise ValueError("anode_current_mA needs apparatus or workload_mA_min_per_week for normalisation")
        if has_workload and self.anode_current_mA is None:
            raise ValueError("apparatus/workload_mA_min_per_week needs anode_current_mA for normalisation")
        return self


class DaemonConfig(BaseModel):
    """The whole daemon configuration (one TOML file).

    The loader merges file < environment (``RADSURVEY_SECTION__KEY``) < command line itself
    (config/loader.py), so the model validates exactly the dictionary it is given. It was a
    pydantic-settings ``BaseSettings`` limited to that dictionary; as a plain model the daemon
    does not import pydantic-settings, python-dotenv and the email package (5 MB of a Pi's RSS).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    site: SiteConfig = SiteConfig()
    journal: JournalConfig = JournalConfig()
    meters: list[MeterConfig] = Field(default_factory=list)
    channels: list[ChannelConfig] = Field(default_factory=list)
    mqtt: MqttConfig | None = None
    influxdb: InfluxConfig | None = None
    retention: RetentionConfig = RetentionConfig()
    alarms: AlarmsConfig = AlarmsConfig()
    shutdown: ShutdownConfig = ShutdownConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    web: WebConfig | None = None
    facility: FacilityConfig | None = None
    profiles: list[Path] = Field(
        default_factory=list,
        description=(
            "profile files (TOML, docs/profiles.md) to use besides the shipped, user and system ones; "
            "a relative path is taken from the working directory"
        ),
    )

    @field_validator("profiles")
    @classmethod
    def _load_profiles(cls, value: list[Path]) -> list[Path]:
        # Loading registers each profile by its id, so channels and dose budget limits can name it.
        from radsurvey.protocols import profiles
        from radsurvey.protocols.errors import ProfileError

        for i, path in enumerate(value):
            try:
                profiles.register_file(path)
            except ProfileError as err:
                raise ValueError(f"[{i}] {err}") from None
        return value

    def ha_expire_after_s(self, channel: ChannelConfig) -> int:
        """Home Assistant ``expire_after`` of a channel's sensor: ``[mqtt] expire_after_s``, or by default
        120 s or three poll intervals of its meter, whichever is longer."""
        if self.mqtt is not None and self.mqtt.expire_after_s is not None:
            return self.mqtt.expire_after_s
        poll = next((m.poll_interval_s for m in self.meters if m.id == channel.meter), 1.0)
        return max(HA_EXPIRE_DEFAULT_S, math.ceil(HA_EXPIRE_POLLS * poll))

    def alarm_rules(self, channel: ChannelConfig) -> list[AlarmRule]:
        """The rules the alarm service runs on a channel: its own, with the journal size bound and sink check added."""
        r = self.retention
        max_bytes = int(r.max_size_mb * 1e6) if r.max_size_mb is not None else None
        rules = with_journal_limit(channel.alarms, max_bytes, r.warn_fraction)
        if self.influxdb is not None and self.influxdb.enabled:
            rules = with_sink_check(rules)
        return rules

    @model_validator(mode="after")
    def _references(self) -> DaemonConfig:
        problems: list[str] = []
        for kind, items in (("meters", self.meters), ("channels", self.channels)):
            seen: set[str] = set()
            for item in items:
                if item.id in seen:
                    problems.append(f"{kind}: duplicate id {item.id!r}")
                seen.add(item.id)
        meter_ids = {m.id for m in self.meters}
        for ch in self.channels:
            if ch.meter not in meter_ids:
                problems.append(f"channels[{ch.id}].meter: no meter with id {ch.meter!r}")
            problems += check_unique_rule_names(ch.id, ch.alarms)
            problems += check_dose_budgets(ch.id, ch.protocol, ch.room_category, ch.alarms)
            if self.retention.max_size_mb is None:
                for i, rule in enumerate(ch.alarms):
                    if isinstance(rule, EquipmentRule) and rule.check == "journal_size" and rule.max_bytes is None:
                        problems.append(
                            f"channels[{ch.id}].alarms[{i}]: check 'journal_size' needs max_bytes "
                            "(or [retention] max_size_mb)"
                        )
        if self.mqtt is not None and self.mqtt.homeassistant and self.mqtt.expire_after_s is not None:
            polls = {m.id: m.poll_interval_s for m in self.meters}
            for ch in self.channels:
                poll = polls.get(ch.meter)
                if poll is not None and self.mqtt.expire_after_s < HA_EXPIRE_POLLS * poll:
                    problems.append(
                        f"mqtt.expire_after_s: {self.mqtt.expire_after_s} s is less than {HA_EXPIRE_POLLS} poll"
                        f" intervals of meter {ch.meter!r} (channels[{ch.id}], poll_interval_s = {poll:g}):"
                        " Home Assistant would show the sensor unavailable between readings; use at least"
                        f" {math.ceil(HA_EXPIRE_POLLS * poll)}, or leave it out"
                    )
        ack = self.alarms.mqtt_ack
        if (
            ack.enabled
            and ack.accept_unsigned
            and ack.keys_file is None
            and not ack.username
            and not (self.mqtt is not None and self.mqtt.username)
        ):
            problems.append(
                "alarms.mqtt_ack: unsigned acknowledgements (accept_unsigned) need a broker account: "
                "username (and a password) here or in [mqtt]; or set keys_file for signed ones"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self
