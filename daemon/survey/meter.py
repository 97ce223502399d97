"""The meter a guided survey reads: a registered driver opened once and read synchronously.

Counting meters without the tube's sensitivity are refused when they connect
(:func:`counts_without_sensitivity`): they give counts, not dose rates.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

from radsurvey.protocols.errors import MeterError


@dataclass
class MeterSample:
    value_uGy_h: float
    unit: str
    raw: str
    source: str
    problem: str = ""  # non-empty: not usable (over range, fault)


class ReadingSource(Protocol):
    name: str

    def read(self) -> MeterSample: ...

    def close(self) -> None: ...


class MeterSource:
    """A registered driver, opened once, read synchronously from its own event-loop thread."""

    def __init__(
        self,
        driver_name: str,
        *,
        meter_id: str = "survey",
        poll_interval_s: float = 1.0,
        options: dict[str, Any] | None = None,
        timeout_s: float = 30.0,
    ):
        from radsurvey.drivers import registry

        self.name = f"meter:{driver_name}"
        self.driver_name = driver_name  # with the identity's model: the model table's entry (drivers/models.py)
        self.timeout_s = timeout_s
        self._driver = registry.create(
            driver_name, meter_id=meter_id, poll_interval_s=poll_interval_s, options=options or {}
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="radsurvey-survey-meter", daemon=True)
        self._thread.start()
        self._last_at: float | None = None
        try:
            self._call(self._driver.__aenter__())
        except BaseException:
            self._stop_loop()
            raise
        self.identity = self._driver.identity
        problem = counts_without_sensitivity(self._driver)
        if problem:
            self.close()
            raise MeterError(problem, meter=self.name)

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(self.timeout_s)

    def read(self) -> MeterSample:
        from radsurvey.drivers.base import Quantity, Status

        if self._last_at is not None:  # keep the meter's poll interval between reads
            wait = self._driver.poll_interval_s - (time.monotonic() - self._last_at)
            if wait > 0:
                time.sleep(wait)
        self._last_at = time.monotonic()
        r = self._call(self._driver.read())
        problem = ""
        bad = r.status & {Status.OVER_RANGE, Status.FAULT, Status.STALE, Status.UNDER_RANGE}
        if bad:
            problem = "meter reports " + ", ".join(sorted(s.value for s in bad))
        elif r.quantity not in (Quantity.AIR_KERMA_RATE, Quantity.AMBIENT_DOSE_EQUIVALENT_RATE):
            problem = f"meter gives {r.quantity.value} in {r.unit}, not a dose rate"
        return MeterSample(
            value_uGy_h=float(r.value),
            unit=r.unit,
            raw=r.raw.hex(),
            source=self.name,
            problem=problem,
        )

    def close(self) -> None:
        try:
            self._call(self._driver.__aexit__(None, None, None))
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()


COUNT_UNITS = ("cpm", "cps")


def counts_without_sensitivity(driver: Any) -> str:
    """Why a connected meter cannot give dose rates for a survey ("" if it can).

    A counter (GMC, Rad Pro, a Modbus register in cpm) without the tube's sensitivity
    reports counts only; refused at connect with the option that fixes it.
    """
    options = getattr(driver, "options", None)
    if options is None or not hasattr(options, "sensitivity_cpm_per_uSv_h"):
        return ""
    unit = getattr(options, "unit", None)
    if isinstance(unit, str) and unit not in COUNT_UNITS:
        return ""  # the register already holds a dose rate
    sensitivity = getattr(driver, "sensitivity", options.sensitivity_cpm_per_uSv_h)
    if isinstance(sensitivity, int | float) and not isinstance(sensitivity, bool) and sensitivity > 0:
        return ""
    return (
        f"the {getattr(driver, 'name', 'meter')} meter gives counts (cpm) and no sensitivity is set, so it"
        " cannot give dose rates: add --meter-option sensitivity_cpm_per_uSv_h=N (the tube's cpm per uSv/h,"
        " from its data sheet)"
    )
