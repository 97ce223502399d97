"""Readings from Geiger-Mueller counters: count rate, dead time, sensitivity.

Shared by the GMC and Rad Pro drivers. A counter's number is a count rate
(cpm); it becomes a dose rate only with a stated tube sensitivity, and every
step is recorded in the Reading's conversions.
"""

from __future__ import annotations

from datetime import datetime

from .base import Conversion, Quantity, Reading, Status
from .units import DEAD_TIME_MAX_FACTOR, cpm_to_uSv_h, dead_time_correct


def count_rate_reading(
    *,
    meter: str,
    ts: datetime,
    cpm: float,
    raw: bytes,
    sensitivity_cpm_per_uSv_h: float | None,
    dead_time_s: float | None,
    steps: tuple[Conversion, ...] = (),
    status: frozenset[Status] = frozenset(),
    sensitivity_source: str = "config",
    dead_time_source: str = "config",
) -> Reading:
    """A Reading in cpm, or in uSv/h when a sensitivity is known.

    ``steps`` are conversions that already happened (e.g. CPS -> CPM).
    """
    conversions = list(steps)
    value = float(cpm)
    if dead_time_s:
        value, factor, capped = dead_time_correct(value, dead_time_s)
        conversions.append(
            Conversion(
                "dead_time",
                factor=factor,
                detail=f"non-paralysable n=m/(1-m*tau), tau={dead_time_s:g} s ({dead_time_source})"
                + (f", capped at x{DEAD_TIME_MAX_FACTOR:g}: value is a lower bound" if capped else ""),
            )
        )
        if capped:
            status = status | {Status.OVER_RANGE}
    if sensitivity_cpm_per_uSv_h is not None:  # 0 is an error (cpm_to_uSv_h says so), not "no sensitivity"
        value = cpm_to_uSv_h(value, sensitivity_cpm_per_uSv_h)
        conversions.append(
            Conversion(
                "cpm_to_uSv_h",
                factor=1.0 / sensitivity_cpm_per_uSv_h,
                detail=f"sensitivity {sensitivity_cpm_per_uSv_h:g} cpm per uSv/h ({sensitivity_source})",
            )
        )
        unit, quantity = "uSv/h", Quantity.AMBIENT_DOSE_EQUIVALENT_RATE
    else:
        unit, quantity = "cpm", Quantity.COUNT_RATE
    return Reading(
        meter=meter,
        ts=ts,
        value=value,
        unit=unit,
        quantity=quantity,
        status=status,
        raw=raw,
        conversions=tuple(conversions),
        meter_value=float(cpm),
    )


def value_reading(
    *,
    meter: str,
    ts: datetime,
    value: float,
    unit: str,
    raw: bytes,
    meter_value: float | None = None,
    steps: tuple[Conversion, ...] = (),
    status: frozenset[Status] = frozenset(),
    sensitivity_cpm_per_uSv_h: float | None = None,
    dead_time_s: float | None = None,
) -> Reading:
    """A Reading from a number in any unit radsurvey knows (cpm, cps, dose rates, legacy).

    Count rates go through :func:`count_rate_reading`; dose rates are brought to
    uGy/h or uSv/h with the factor (and, for legacy units, the stated note)
    recorded. FrameError for a unit that is neither.
    """
    from radsurvey.protocols.errors import FrameError

    from .units import normalise_unit_name, to_micro_per_hour

    said = unit
    unit = normalise_unit_name(unit)
    if unit.lower() in ("cpm", "cps"):
        cpm = value
        conversions = list(steps)
        if unit.lower() == "cps":
            cpm *= 60.0
            conversions.append(Conversion("cps_to_cpm", factor=60.0))
        reading = count_rate_reading(
            meter=meter,
            ts=ts,
            cpm=cpm,
            raw=raw,
            sensitivity_cpm_per_uSv_h=sensitivity_cpm_per_uSv_h,
            dead_time_s=dead_time_s,
            steps=tuple(conversions),
            status=status,
        )
        from dataclasses import replace

        return replace(reading, meter_value=value if meter_value is None else meter_value)
    try:
        micro, base, factor, note = to_micro_per_hour(value, unit)
    except FrameError:
        raise FrameError(
            f"unit {said!r} is not a count rate or dose rate radsurvey knows", raw=raw, meter=meter
        ) from None
    conversions = list(steps)
    if factor != 1.0 or said != base:
        conversions.append(
            Conversion("unit", factor=factor, detail=f"{said} -> {base}" + (f" ({note})" if note else ""))
        )
    quantity = Quantity.AIR_KERMA_RATE if base == "uGy/h" else Quantity.AMBIENT_DOSE_EQUIVALENT_RATE
    return Reading(
        meter=meter,
        ts=ts,
        value=micro,
        unit=base,
        quantity=quantity,
        status=status,
        raw=raw,
        conversions=tuple(conversions),
        meter_value=value if meter_value is None else meter_value,
    )
