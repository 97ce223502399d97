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
    if sensitivity_cpm_per_uSv_h:
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
