"""Unit conversions as pure functions. Every conversion is explicit and recorded.

Dose-rate values inside radsurvey are micro-units per hour: uGy/h for air kerma
rate (the regulation's D) and uSv/h for ambient dose equivalent rate. Legacy
units are converted with stated factors, never silently.
"""

from __future__ import annotations

import math

from radsurvey.protocols.errors import FrameError

# Prefix -> factor to micro.
_PREFIX_TO_MICRO = {"n": 1e-3, "u": 1.0, "µ": 1.0, "μ": 1.0, "m": 1e3, "": 1e6}

# Legacy exposure/dose-equivalent units -> (base, factor to micro-base).
# 1 R of exposure in air corresponds to 8.76 mGy air kerma (W/e = 33.97 J/C): 1 mR/h = 8.76 uGy/h.
# 1 rem = 10 mSv: 1 mrem/h = 10 uSv/h.
LEGACY: dict[str, tuple[str, float, str]] = {
    "R/h": ("uGy/h", 8760.0, "1 R = 8.76 mGy air kerma"),
    "mR/h": ("uGy/h", 8.76, "1 mR = 8.76 uGy air kerma"),
    "uR/h": ("uGy/h", 8.76e-3, "1 uR = 8.76 nGy air kerma"),
    "rem/h": ("uSv/h", 1e4, "1 rem = 10 mSv"),
    "mrem/h": ("uSv/h", 10.0, "1 mrem = 10 uSv"),
    "urem/h": ("uSv/h", 1e-2, "1 urem = 10 nSv"),
}


def normalise_unit_name(unit: str) -> str:
    return unit.strip().replace("µ", "u").replace("μ", "u").replace("/hr", "/h")


def to_micro_per_hour(value: float, unit: str) -> tuple[float, str, float, str]:
    """Convert a dose rate to uGy/h or uSv/h.

    Returns ``(value, base_unit, factor, note)``; raises FrameError for units that
    are not dose rates.
    """
    u = normalise_unit_name(unit)
    if u in LEGACY:
        base, factor, note = LEGACY[u]
        return value * factor, base, factor, note
    for quantity in ("Gy/h", "Sv/h"):
        if u.endswith(quantity):
            prefix = u[: -len(quantity)]
            if prefix in _PREFIX_TO_MICRO:
                factor = _PREFIX_TO_MICRO[prefix]
                return value * factor, "u" + quantity, factor, ""
    raise FrameError(f"unit {unit!r} is not a dose rate radsurvey knows")


def check_finite(value: float, what: str = "value") -> float:
    if not math.isfinite(value):
        raise FrameError(f"{what} is not a finite number: {value!r}")
    return value
