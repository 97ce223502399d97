"""The simulated meter: reproducible, noisy like a counter, with scheduled beam-on."""

from __future__ import annotations

import statistics

from radsurvey.drivers import registry
from radsurvey.drivers.base import Quantity


def make(**options):
    return registry.create("simulated", meter_id="sim", poll_interval_s=1.0, options=options)


async def read_n(driver, n: int) -> list[float]:
    async with driver:
        return [(await driver.read()).value for _ in range(n)]


async def test_same_seed_gives_the_same_series() -> None:
    assert await read_n(make(seed=7), 50) == await read_n(make(seed=7), 50)


async def test_different_seeds_give_different_series() -> None:
    assert await read_n(make(seed=1), 50) != await read_n(make(seed=2), 50)


async def test_background_mean_is_near_the_configured_value() -> None:
    values = await read_n(make(seed=3, background_uGy_h=20.0, counts_per_uGy=50_000), 400)
    assert abs(statistics.fmean(values) - 20.0) < 0.5


async def test_beam_is_on_only_inside_its_schedule() -> None:
    values = await read_n(
        make(seed=5, background_uGy_h=0.1, beam_uGy_h=100.0, beam_period_s=10, beam_on_s=3, beam_start_s=2), 30
    )
    on = [i for i, v in enumerate(values) if v > 50]
    assert on == [2, 3, 4, 12, 13, 14, 22, 23, 24]


async def test_reading_names_meter_unit_quantity_and_raw_frame() -> None:
    async with make(unit="uSv/h", serial="SIM-42") as driver:
        reading = await driver.read()
        assert driver.identity.serial == "SIM-42"
    assert reading.meter == "sim" and reading.unit == "uSv/h"
    assert reading.quantity is Quantity.AMBIENT_DOSE_EQUIVALENT_RATE
    assert reading.raw.startswith(b"0:") and reading.conversions[0].name == "simulated"
