"""Readings -> Samples, per monitored channel.

For each reading of the channel's meter: unit to air kerma rate (uGy/h),
calibration factor, rolling mean over ``averaging_window_s``, background
subtraction (clamped at 0 and flagged), workload normalisation (formula 1) where
the channel knows I and W, and the effective dose rate E by formula 4, judged
against the room category's DMD_E. Every correction is stored with the sample
so that any number can be recomputed (docs/architecture.md#a-readings-way-from-the-meter-to-the-sinks).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import structlog

from radsurvey.config.schema import ChannelConfig
from radsurvey.drivers.base import Reading, Status, iso_utc
from radsurvey.drivers.units import to_micro_per_hour
from radsurvey.protocols import formulas, profiles
from radsurvey.protocols.errors import ConfigError, FrameError, RadsurveyError

log = structlog.get_logger("radsurvey.pipeline")

# Readings with these flags carry no usable value.
_UNUSABLE = frozenset({Status.FAULT, Status.STALE, Status.WARMING_UP})
# Our ceiling where neither the config nor the meter's model table gives one: 10 Sv/h, far above any field a
# survey meter outside the primary beam of an X-ray apparatus meets (docs/drivers.md, "Plausible values").
DEFAULT_PLAUSIBLE_MAX_uSv_h = 1e7


def plausible_range(cfg: ChannelConfig, driver: str | None, identity_model: str | None) -> tuple[float, float, str]:
    """(min, max, where it comes from) of the meter's dose rate on this channel, in uSv/h or uGy/h as it reports.

    The channel's ``plausible_uSv_h``, else 0 to the range maximum of the meter's model (the driver's model
    table, once the meter said which model it is), else 0 to :data:`DEFAULT_PLAUSIBLE_MAX_uSv_h`.
    """
    if cfg.plausible_uSv_h is not None:
        lo, hi = cfg.plausible_uSv_h
        return lo, hi, f"channels[{cfg.id}].plausible_uSv_h"
    if driver and identity_model:
        from radsurvey.drivers.models import model_for

        model = model_for(driver, identity_model)
        if model is not None and model.dose_rate_uSv_h_max is not None:
            return 0.0, model.dose_rate_uSv_h_max, f"the range of {model.model} ({model.source})"
    return 0.0, DEFAULT_PLAUSIBLE_MAX_uSv_h, "radsurvey's default ceiling"


def implausible(reading: Reading, lo: float, hi: float, source: str) -> str | None:
    """Why ``reading`` is no physical dose rate (outside [lo, hi], or not a number), else None."""
    try:
        value = to_micro_per_hour(reading.value, reading.unit)[0]
    except FrameError:
        return None  # not a dose rate (counts): the pipeline does not use it as one anyway
    if not math.isfinite(value) or not lo <= value <= hi:
        return f"{reading.value:g} {reading.unit} is outside the plausible {lo:g}-{hi:g} ({source})"
    return None


@dataclass(frozen=True, slots=True)
class Sample:
    """One processed value of one channel; every field is in the unit its name says."""

    channel: str
    meter: str
    ts: datetime
    reading_seq: int
    room_category: int
    value_uGy_h: float  # this reading, calibrated, as air kerma rate
    mean_uGy_h: float  # rolling mean over the window
    window_n: int
    background_uGy_h: float
    net_uGy_h: float
    below_background: bool
    normalised_uGy_h: float | None  # None when the channel has no I and W
    effective_uSv_h: float
    limit_uSv_h: float
    ratio: float
    formula: str
    corrections: tuple[dict[str, Any], ...] = ()
    seq: int = 0

    def row(self) -> dict[str, Any]:
        """The sample as the journal's ``samples`` view gives it back (without seq): what the payload builders
        take, so a live sample and a replayed one publish the same bytes. The journal stores samples through
        ``Journal.append_sample`` (``journal/rows.py``), not through this."""
        import json

        return {
            "ts": iso_utc(self.ts),
            "channel": self.channel,
            "meter": self.meter,
            "reading_seq": self.reading_seq,
            "room_category": self.room_category,
            "value_uGy_h": self.value_uGy_h,
            "mean_uGy_h": self.mean_uGy_h,
            "window_n": self.window_n,
            "background_uGy_h": self.background_uGy_h,
            "net_uGy_h": self.net_uGy_h,
            "below_background": int(self.below_background),
            "normalised_uGy_h": self.normalised_uGy_h,
            "effective_uSv_h": self.effective_uSv_h,
            "limit_uSv_h": self.limit_uSv_h,
            "ratio": self.ratio,
            "formula": self.formula,
            "corrections": json.dumps(list(self.corrections), separators=(",", ":")),
        }

    def as_dict(self) -> dict[str, Any]:
        d = self.row()
        d["seq"] = self.seq
        d["below_background"] = self.below_background
        d["corrections"] = list(self.corrections)
        return d

    def with_seq(self, seq: int) -> Sample:
        return replace(self, seq=seq)


@dataclass
class _Window:
    span_s: float
    items: deque[tuple[float, float]] = field(default_factory=deque)
    total: float = 0.0

    def add(self, t: float, value: float) -> tuple[float, int]:
        self.items.append((t, value))
        self.total += value
        while self.items and self.items[0][0] <= t - self.span_s:
            self.total -= self.items.popleft()[1]
        if len(self.items) == 1:  # re-anchor the running sum against float drift
            self.total = self.items[0][1]
        return self.total / len(self.items), len(self.items)


class ChannelPipeline:
    """The processing state of one channel. Not thread-safe; one per channel."""

    def __init__(self, cfg: ChannelConfig):
        self.cfg = cfg
        try:
            self.profile = profiles.get_profile(cfg.protocol)
        except RadsurveyError as err:
            raise ConfigError(err.message, field=f"channels[{cfg.id}].protocol") from None
        try:
            self.limit_uSv_h = formulas.dmd_for(self.profile, cfg.room_category)
        except RadsurveyError as err:
            raise ConfigError(err.message, field=f"channels[{cfg.id}].room_category") from None
        self.workload: float | None = None
        self.warnings: list[str] = []
        if cfg.anode_current_mA is not None:
            try:
                choice = formulas.workload_for(self.profile, cfg.apparatus or "", cfg.workload_mA_min_per_week)
            except RadsurveyError as err:
                raise ConfigError(err.message, field=f"channels[{cfg.id}].apparatus") from None
            self.workload = choice.workload_mA_min_per_week
            self.warnings = list(choice.warnings)
        self._window = _Window(cfg.averaging_window_s)
        self._warned_units: set[str] = set()
        self.last: Sample | None = None

    def _air_kerma(self, reading: Reading) -> tuple[float, list[dict[str, Any]]] | None:
        corrections: list[dict[str, Any]] = []
        try:
            value, base, factor, note = to_micro_per_hour(reading.value, reading.unit)
        except FrameError:
            if reading.unit not in self._warned_units:
                self._warned_units.add(reading.unit)
                log.warning(
                    "reading unit is not a dose rate; configure the meter's conversion",
                    channel=self.cfg.id,
                    unit=reading.unit,
                )
            return None
        if factor != 1.0 or note:
            corrections.append({"name": "unit", "from": reading.unit, "to": base, "factor": factor, "note": note})
        if base == "uSv/h":
            value /= self.cfg.sv_per_gy
            corrections.append({"name": "h10_to_air_kerma", "uSv_per_uGy": self.cfg.sv_per_gy})
        if self.cfg.calibration_factor != 1.0:
            value *= self.cfg.calibration_factor
            corrections.append({"name": "calibration", "factor": self.cfg.calibration_factor})
        return value, corrections

    def process(self, reading: Reading, reading_seq: int) -> Sample | None:
        """The sample for ``reading``, or None when it carries no usable dose rate."""
        if reading.status & _UNUSABLE:
            return None
        converted = self._air_kerma(reading)
        if converted is None:
            return None
        value, corrections = converted
        if Status.OVER_RANGE in reading.status:
            corrections.append({"name": "over_range", "note": "the meter's value is a lower bound"})
        mean, n = self._window.add(reading.ts.timestamp(), value)
        cfg = self.cfg
        if cfg.background_compensated:
            background = 0.0
            corrections.append({"name": "background", "note": "compensated by the meter"})
        else:
            background = cfg.background_uGy_h
            if background:
                corrections.append({"name": "background", "subtracted_uGy_h": background})
        net = mean - background
        below = net < 0
        net = max(net, 0.0)
        normalised: float | None = None
        dose_for_e = net
        if cfg.anode_current_mA is not None and self.workload is not None:
            normalised = formulas.normalise(net, cfg.anode_current_mA, self.workload, profile=self.profile)
            dose_for_e = normalised
            corrections.append(
                {
                    "name": "normalisation",
                    "anode_current_mA": cfg.anode_current_mA,
                    "workload_mA_min_per_week": self.workload,
                    "standard_week_min": 1800,
                    "note": (
                        "beam-on normalisation to the standard workload (App. 14 formula 1), for a check "
                        "exposure at a known current; alarms judge the measured E, not this"
                    ),
                }
            )
        formula, effective = formulas.effective_dose_rate({_height_key(cfg): dose_for_e}, profile=self.profile)
        sample = Sample(
            channel=cfg.id,
            meter=reading.meter,
            ts=reading.ts,
            reading_seq=reading_seq,
            room_category=cfg.room_category,
            value_uGy_h=value,
            mean_uGy_h=mean,
            window_n=n,
            background_uGy_h=background,
            net_uGy_h=net,
            below_background=below,
            normalised_uGy_h=normalised,
            effective_uSv_h=effective,
            limit_uSv_h=self.limit_uSv_h,
            ratio=effective / self.limit_uSv_h,
            formula=formula,
            corrections=tuple(corrections),
        )
        self.last = sample
        return sample


def _height_key(cfg: ChannelConfig) -> int:
    # A fixed monitor measures at one height, so formula 4 applies whatever it is.
    return round(cfg.height_cm) if cfg.height_cm is not None else 80
