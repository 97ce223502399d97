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


COUNT_RATE_UNITS = ("cpm", "cps")
# The spellings a user is shown; "µ"/"μ" for "u" and "/hr" for "/h" are accepted too.
DOSE_RATE_UNITS = tuple(f"{prefix}{quantity}" for quantity in ("Gy/h", "Sv/h") for prefix in ("n", "u", "m", ""))


def check_unit(unit: str, *, currents: bool = False) -> str:
    """``unit`` if radsurvey can turn values in it into a reading; ValueError listing the units otherwise.

    Accepted: count rates (cpm, cps), dose rates with SI prefixes, the legacy units
    of :data:`LEGACY` and, with ``currents``, amperes with an SI prefix.
    """
    name = normalise_unit_name(unit)
    if name.lower() in COUNT_RATE_UNITS:
        return unit
    try:
        to_micro_per_hour(1.0, unit)
        return unit
    except FrameError:
        pass
    if currents:
        try:
            split_si(unit, "A")
            return unit
        except ValueError:
            pass
    accepted = [*COUNT_RATE_UNITS, *DOSE_RATE_UNITS, *LEGACY]
    if currents:
        accepted.append("A (also with an SI prefix: pA, nA, uA, ...)")
    raise ValueError(f"unknown unit {unit!r}; accepted units: {', '.join(accepted)}")


# -- count rates ------------------------------------------------------------------------

# A non-paralysable correction factor above this means the detector is saturated:
# the true rate cannot be recovered from the measured one (Rad Pro caps at x10 too).
DEAD_TIME_MAX_FACTOR = 10.0
# GM tubes have dead times of tens to hundreds of microseconds; a value above 10 ms
# is a unit mistake (milliseconds written as seconds), not a tube.
DEAD_TIME_MAX_S = 0.01


def cpm_to_uSv_h(cpm: float, sensitivity_cpm_per_uSv_h: float) -> float:
    """Count rate -> ambient dose equivalent rate, by the tube's sensitivity."""
    if not (math.isfinite(sensitivity_cpm_per_uSv_h) and sensitivity_cpm_per_uSv_h > 0):
        raise ValueError(f"sensitivity must be a positive number of cpm per uSv/h, not {sensitivity_cpm_per_uSv_h!r}")
    return cpm / sensitivity_cpm_per_uSv_h


def dead_time_correct(
    cpm: float, dead_time_s: float, max_factor: float = DEAD_TIME_MAX_FACTOR
) -> tuple[float, float, bool]:
    """Non-paralysable dead-time correction ``n = m / (1 - m*tau)`` on a count rate.

    Returns ``(corrected_cpm, factor, capped)``; ``capped`` is True when the
    factor would exceed ``max_factor`` (or the denominator reaches zero), in
    which case the factor is ``max_factor`` and the value is a lower bound.
    """
    if dead_time_s < 0 or not math.isfinite(dead_time_s):
        raise ValueError(f"dead time must be >= 0 s, not {dead_time_s!r}")
    if max_factor < 1:
        raise ValueError("max_factor must be >= 1")
    if dead_time_s == 0 or cpm <= 0:
        return cpm, 1.0, False
    m_cps = cpm / 60.0
    denominator = 1.0 - m_cps * dead_time_s
    if denominator <= 1.0 / max_factor:
        return cpm * max_factor, max_factor, True
    factor = 1.0 / denominator
    return cpm * factor, factor, False


# -- SI prefixes --------------------------------------------------------------------------

SI_PREFIXES: dict[str, float] = {
    "f": 1e-15,
    "p": 1e-12,
    "n": 1e-9,
    "u": 1e-6,
    "µ": 1e-6,
    "μ": 1e-6,
    "m": 1e-3,
    "": 1.0,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
}


def split_si(unit: str, base: str) -> float:
    """The factor of ``unit`` relative to ``base``: ``split_si("nA", "A") == 1e-9``."""
    unit = unit.strip()
    if not unit.endswith(base):
        raise ValueError(f"unit {unit!r} is not a multiple of {base!r}")
    prefix = unit[: -len(base)]
    if prefix not in SI_PREFIXES:
        raise ValueError(f"unknown SI prefix {prefix!r} in {unit!r}")
    return SI_PREFIXES[prefix]


def to_unit(value: float, unit: str, target: str) -> tuple[float, float, str]:
    """Convert a dose rate (SI prefixes or stated legacy factors) into ``target``.

    ``target`` is a micro-per-hour unit (``uGy/h`` or ``uSv/h``). Returns
    ``(value, factor, note)``; ValueError when the units do not match in kind.
    """
    try:
        micro, base, factor, note = to_micro_per_hour(value, unit)
    except FrameError as err:
        raise ValueError(err.message) from None
    if base != normalise_unit_name(target):
        raise ValueError(f"{unit!r} converts to {base}, not {target}")
    return micro, factor, note
