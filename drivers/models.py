"""What each meter model is, and what it is fit for: the typed model table of every driver.

Each driver folder states its models in ``drivers/<name>/models.py`` (``MODELS``): the
detector, the energy and dose-rate ranges, whether it can be trusted in a pulsed
X-ray field, and the source of every figure. A figure the sources do not give is
``None`` ("not known"), never a guess.

Used by other parts of radsurvey:

* a channel's plausible range: :attr:`InstrumentModel.dose_rate_uSv_h_min` / ``_max``;
* instrument fitness shown to people: :func:`model_for` then :meth:`InstrumentModel.fitness`;
* the survey's App. 14 p.32 check: :func:`p32_problems`, so that a survey read with a
  GM counter gets the p.32 warning without the technician typing the meter's specs.

The import is cheap: this module imports no driver; :func:`models_of` imports only the
driver's ``models`` table module (pure data).
"""

from __future__ import annotations

import enum
import importlib
from collections.abc import Iterable
from dataclasses import dataclass

from .builtin import BUILTIN


class DetectorKind(enum.StrEnum):
    """What turns radiation into a signal; it decides the physics limits below."""

    GM_TUBE = "gm_tube"
    ENERGY_COMPENSATED_GM = "energy_compensated_gm"
    SCINTILLATOR = "scintillator"
    ION_CHAMBER = "ion_chamber"
    UNKNOWN = "unknown"  # depends on what is attached (Modbus probes, electrometers)


# Why a plain GM counter fails App. 14 p.32 even when its maker gives no energy range
# (docs/drivers.md, "What each meter is fit for"): its energy response does not reach
# 15 keV, and its dead time makes it count too few pulses in the short, intense pulses
# of an X-ray exposure.
GM_PHYSICS = (
    "uncompensated GM tube: energy response does not reach 15 keV; dead time makes it "
    "under-read in pulsed X-ray fields (it is fine for background and continuous fields)"
)


@dataclass(frozen=True, slots=True)
class InstrumentModel:
    """One meter model: detector, ranges, pulsed-field suitability and where the figures come from.

    ``identity_prefixes``: a connected meter is this model when its identity's model
    (as the driver reports it, case-insensitive) starts with one of them.
    """

    driver: str
    model: str
    identity_prefixes: tuple[str, ...]
    detector: str
    detector_kind: DetectorKind
    energy_min_keV: float | None
    energy_max_keV: float | None
    dose_rate_uSv_h_min: float | None
    dose_rate_uSv_h_max: float | None
    pulsed_field_ok: bool | None  # None: the sources do not say
    source: str
    notes: str = ""

    def matches(self, identity_model: str) -> bool:
        text = identity_model.strip().casefold()
        return any(text.startswith(p.casefold()) for p in self.identity_prefixes)

    def fitness(self, *, energy_min_keV: float = 15.0, energy_max_keV: float = 3000.0) -> list[FitnessProblem]:
        """Why this model cannot do a survey that needs ``energy_min_keV``..``energy_max_keV`` in pulsed fields.

        Empty when nothing known stands against it (unknown figures are not problems here:
        the survey's own instrument check asks for them).
        """
        problems: list[FitnessProblem] = []
        known = self.energy_min_keV is not None and self.energy_max_keV is not None
        if known and (self.energy_min_keV > energy_min_keV or self.energy_max_keV < energy_max_keV):  # type: ignore[operator]
            problems.append(
                FitnessProblem(
                    "energy_range",
                    f"{self.model}: energy range {self.energy_min_keV:g}-{self.energy_max_keV:g} keV does not cover"
                    f" {energy_min_keV:g}-{energy_max_keV:g} keV ({self.source})",
                )
            )
        elif not known and self.detector_kind is DetectorKind.GM_TUBE:
            problems.append(
                FitnessProblem(
                    "energy_range",
                    f"{self.model}: {self.detector}; its energy response does not reach {energy_min_keV:g} keV"
                    f" ({GM_PHYSICS})",
                )
            )
        if self.pulsed_field_ok is False:
            problems.append(
                FitnessProblem(
                    "pulsed_field",
                    f"{self.model}: under-reads in pulsed X-ray fields"
                    + (f" ({GM_PHYSICS})" if self.detector_kind is DetectorKind.GM_TUBE else f" ({self.source})"),
                )
            )
        return problems

    def as_dict(self) -> dict[str, object]:
        return {
            "driver": self.driver,
            "model": self.model,
            "detector": self.detector,
            "detector_kind": self.detector_kind.value,
            "energy_min_keV": self.energy_min_keV,
            "energy_max_keV": self.energy_max_keV,
            "dose_rate_uSv_h_min": self.dose_rate_uSv_h_min,
            "dose_rate_uSv_h_max": self.dose_rate_uSv_h_max,
            "pulsed_field_ok": self.pulsed_field_ok,
            "source": self.source,
            "notes": self.notes,
        }


def without_published_figures(
    driver: str,
    model: str,
    identity_prefixes: tuple[str, ...],
    detector: str,
    detector_kind: DetectorKind,
    *,
    source: str,
    pulsed_field_ok: bool | None = None,
) -> InstrumentModel:
    """A model whose energy and dose-rate ranges the sources read do not give (None: not known)."""
    if pulsed_field_ok is None and detector_kind is DetectorKind.GM_TUBE:
        pulsed_field_ok = False  # GM_PHYSICS: dead time under-reads pulsed fields, whatever the maker says
    return InstrumentModel(
        driver=driver,
        model=model,
        identity_prefixes=identity_prefixes,
        detector=detector,
        detector_kind=detector_kind,
        energy_min_keV=None,
        energy_max_keV=None,
        dose_rate_uSv_h_min=None,
        dose_rate_uSv_h_max=None,
        pulsed_field_ok=pulsed_field_ok,
        source=source,
    )


@dataclass(frozen=True, slots=True)
class FitnessProblem:
    """One reason a model is not fit for an X-ray room survey: ``code`` is energy_range or pulsed_field."""

    code: str
    text: str


def models_of(driver: str) -> tuple[InstrumentModel, ...]:
    """The model table of ``driver`` (empty for a driver without one, e.g. simulated)."""
    if driver not in BUILTIN:
        raise KeyError(f"unknown driver {driver!r}")
    try:
        module = importlib.import_module(f"{BUILTIN[driver]}.models")
    except ModuleNotFoundError as err:
        if err.name == f"{BUILTIN[driver]}.models":
            return ()
        raise
    models: tuple[InstrumentModel, ...] = module.MODELS
    return models


def all_models() -> tuple[InstrumentModel, ...]:
    return tuple(m for name in sorted(BUILTIN) for m in models_of(name))


def model_for(driver: str, identity_model: str) -> InstrumentModel | None:
    """The table entry for a connected meter (driver name and its identity's model); None if not in the table."""
    if driver not in BUILTIN:
        return None
    return next((m for m in models_of(driver) if m.matches(identity_model)), None)


def p32_problems(
    driver: str, identity_model: str, *, energy_min_keV: float = 15.0, energy_max_keV: float = 3000.0
) -> list[FitnessProblem]:
    """App. 14 p.32 problems of a connected meter known to the model tables; empty when unknown or fit."""
    model = model_for(driver, identity_model)
    return model.fitness(energy_min_keV=energy_min_keV, energy_max_keV=energy_max_keV) if model else []


def table_rows(models: Iterable[InstrumentModel]) -> list[str]:
    """Markdown rows (model | detector | energy keV | dose rate uSv/h | pulsed | source) for READMEs."""

    def rng(lo: float | None, hi: float | None) -> str:
        return "not known" if lo is None or hi is None else f"{lo:g}-{hi:g}"

    pulsed = {True: "yes", False: "no", None: "not stated"}
    return [
        f"| {m.model} | {m.detector} | {rng(m.energy_min_keV, m.energy_max_keV)} |"
        f" {rng(m.dose_rate_uSv_h_min, m.dose_rate_uSv_h_max)} | {pulsed[m.pulsed_field_ok]} | {m.source} |"
        for m in models
    ]
