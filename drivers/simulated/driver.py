"""A dose-rate meter that exists only in software.

Values are a pure function of (seed, reading index), so two runs with the same
seed produce the same series whatever the wall clock does: demos and tests can
rely on it. The exposure schedule runs on the meter's own virtual clock
(index * poll_interval_s): the beam is on for ``beam_on_s`` out of every
``beam_period_s``, starting at ``beam_start_s``.

``mode = "survey"`` is for a guided survey demo: the first
``survey_background_readings`` readings are the background (apparatus off), every
later one is taken with the beam on at ``survey_beam_uGy_h``.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..base import Capability, Conversion, Driver, MeterIdentity, Quantity, Reading, utc_now
from ..registry import DriverSpec


class SimulatedOptions(BaseModel):
    """Options of the ``simulated`` driver (all optional)."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    background_uGy_h: float = Field(0.1, ge=0, allow_inf_nan=False)
    beam_uGy_h: float = Field(0.0, ge=0, allow_inf_nan=False, description="added while the beam is on")
    beam_period_s: float = Field(60.0, gt=0, allow_inf_nan=False)
    beam_on_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    beam_start_s: float = Field(0.0, ge=0, allow_inf_nan=False)
    counts_per_uGy: float = Field(
        1000.0,
        gt=0,
        allow_inf_nan=False,
        description="detector sensitivity: counts per uGy, sets the Poisson noise",
    )
    unit: Literal["uGy/h", "uSv/h"] = "uGy/h"
    serial: str = "SIM-0001"
    mode: Literal["monitor", "survey"] = Field(
        "monitor", description="monitor: the beam schedule above; survey: background first, then beam on"
    )
    survey_background_readings: int = Field(3, ge=0, description="survey mode: readings with the apparatus off")
    survey_beam_uGy_h: float = Field(
        40.0, ge=0, allow_inf_nan=False, description="survey mode: dose rate added once the background is taken"
    )

    @model_validator(mode="after")
    def _on_within_period(self) -> SimulatedOptions:
        if self.beam_on_s > self.beam_period_s:
            raise ValueError("beam_on_s must not exceed beam_period_s")
        return self


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson draw; exact (Knuth) for small means, normal approximation above 30."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


class SimulatedDriver(Driver):
    name = "simulated"
    capabilities = frozenset({Capability.DOSE_RATE})

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0, options: SimulatedOptions):
        super().__init__(meter_id=meter_id, poll_interval_s=poll_interval_s)
        self.options = options
        self._index = 0
        self._open = False

    async def open(self) -> None:
        self._open = True

    async def close(self) -> None:
        self._open = False

    async def identify(self) -> MeterIdentity:
        return MeterIdentity(model="radsurvey simulated meter", firmware="1", serial=self.options.serial)

    def beam_on(self, t_s: float) -> bool:
        """Whether the scheduled beam is on at virtual time ``t_s``."""
        o = self.options
        if o.beam_on_s <= 0 or t_s < o.beam_start_s:
            return False
        return (t_s - o.beam_start_s) % o.beam_period_s < o.beam_on_s

    def value_at(self, index: int) -> tuple[float, bool]:
        """The noisy dose rate of reading ``index`` and whether the beam was on."""
        o = self.options
        if o.mode == "survey":
            on = index >= o.survey_background_readings
            beam = o.survey_beam_uGy_h
        else:
            on = self.beam_on(index * self.poll_interval_s)
            beam = o.beam_uGy_h
        true_rate = o.background_uGy_h + (beam if on else 0.0)
        # Counts collected over one poll interval at this rate (rate is per hour).
        expected = true_rate * o.counts_per_uGy * self.poll_interval_s / 3600.0
        rng = random.Random(f"{o.seed}:{index}")
        counts = poisson(rng, expected)
        return counts * 3600.0 / (o.counts_per_uGy * self.poll_interval_s), on

    async def read(self) -> Reading:
        await asyncio.sleep(0)  # a real driver yields while it waits for bytes
        value, on = self.value_at(self._index)
        self._index += 1
        quantity = Quantity.AIR_KERMA_RATE if self.options.unit == "uGy/h" else Quantity.AMBIENT_DOSE_EQUIVALENT_RATE
        return Reading(
            meter=self.meter_id,
            ts=utc_now(),
            value=round(value, 6),
            unit=self.options.unit,
            quantity=quantity,
            raw=f"{self._index - 1}:{value:.6f}:{'on' if on else 'off'}".encode(),
            conversions=(Conversion("simulated", detail=f"seed={self.options.seed} beam={'on' if on else 'off'}"),),
            meter_value=value,
        )


SPEC = DriverSpec(
    name="simulated",
    summary="software meter: seeded Poisson noise around a background, scheduled beam-on bursts",
    options_model=SimulatedOptions,
    factory=SimulatedDriver,
)
