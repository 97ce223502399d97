"""The runner's pure parts: backoff, frozen-value watch, stale default; plus state de-duplication."""

from __future__ import annotations

import asyncio

import pytest

from radsurvey.config.schema import MeterConfig
from radsurvey.drivers.base import Driver, MeterIdentity, Quantity, Reading, utc_now
from radsurvey.drivers.errors import MeterGone
from radsurvey.drivers.runner import FrozenWatch, MeterState, run_meter, stale_after_s
from radsurvey.protocols.backoff import Backoff
from radsurvey.protocols.errors import ConfigError


def test_backoff_doubles_up_to_its_cap() -> None:
    backoff = Backoff(0.5, 3.0)
    assert [backoff.take() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    backoff.reset()
    assert backoff.take() == 0.5


def test_frozen_needs_the_same_value_for_long_enough() -> None:
    watch = FrozenWatch(10.0)
    assert not any(watch.frozen(5.0, t) for t in (0, 4, 9))
    assert watch.frozen(5.0, 10.5)
    assert not watch.frozen(6.0, 11)  # it moved: fresh again


def test_frozen_watch_off_when_not_configured() -> None:
    watch = FrozenWatch(None)
    assert not any(watch.frozen(1.0, t) for t in range(1000))


def test_stale_default_scales_with_poll_interval() -> None:
    assert stale_after_s(MeterConfig(id="a", driver="simulated", poll_interval_s=0.5)) == 10.0
    assert stale_after_s(MeterConfig(id="a", driver="simulated", poll_interval_s=5)) == 50.0
    cfg = MeterConfig(id="a", driver="simulated", connection={"stale_after_s": 3})
    assert stale_after_s(cfg) == 3.0


def test_backoff_cap_must_not_be_below_the_first_delay() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        MeterConfig(id="a", driver="simulated", connection={"backoff_initial_s": 5, "backoff_max_s": 1})


class _Flaky(Driver):
    """Connects, gives two readings, then vanishes; every later open fails the same way."""

    name = "flaky"
    opens = 0

    async def open(self) -> None:
        type(self).opens += 1
        if type(self).opens > 1:
            raise MeterGone("port /dev/x does not exist")
        self.left = 2

    async def close(self) -> None:
        pass

    async def identify(self) -> MeterIdentity:
        return MeterIdentity(model="flaky")

    async def read(self) -> Reading:
        if self.left == 0:
            raise MeterGone("unplugged")
        self.left -= 1
        return Reading(meter=self.meter_id, ts=utc_now(), value=1.0, unit="uGy/h", quantity=Quantity.AIR_KERMA_RATE)


async def test_a_meter_that_stays_away_is_reported_once_and_retried_with_backoff() -> None:
    states: list[MeterState] = []
    readings: list[Reading] = []
    cfg = MeterConfig(id="f", driver="flaky", poll_interval_s=0.01)
    task = asyncio.create_task(
        run_meter(
            cfg,
            on_reading=readings.append,
            on_state=states.append,
            backoff=Backoff(0.01, 0.02),
            create=lambda name, **kw: _Flaky(meter_id=kw["meter_id"], poll_interval_s=kw["poll_interval_s"]),
        )
    )
    async with asyncio.timeout(5):
        while _Flaky.opens < 8:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(readings) == 2
    assert [s.state for s in states] == ["connecting", "connected", "disconnected", "connecting", "disconnected"]
    assert states[2].reason == "unplugged" and "does not exist" in states[4].reason


async def test_configuration_errors_are_not_retried() -> None:
    def broken(name: str, **kw: object) -> Driver:
        raise ConfigError("bad option", field="x")

    with pytest.raises(ConfigError):
        await run_meter(
            MeterConfig(id="c", driver="x"), on_reading=lambda r: None, on_state=lambda s: None, create=broken
        )


class _Flapping(Driver):
    """Every other reply is garbled."""

    name = "flapping"

    async def open(self) -> None:
        self.n = 0

    async def close(self) -> None:
        pass

    async def identify(self) -> MeterIdentity:
        return MeterIdentity(model="flapping")

    async def read(self) -> Reading:
        from radsurvey.protocols.errors import FrameError

        self.n += 1
        if self.n % 2 == 0:
            raise FrameError("bad checksum", raw=b"\x00")
        return Reading(meter=self.meter_id, ts=utc_now(), value=1.0, unit="uGy/h", quantity=Quantity.AIR_KERMA_RATE)


async def test_a_meter_failing_every_other_read_is_one_error_episode() -> None:
    states: list[MeterState] = []
    readings: list[Reading] = []
    task = asyncio.create_task(
        run_meter(
            MeterConfig(id="f", driver="flapping", poll_interval_s=0.001),
            on_reading=readings.append,
            on_state=states.append,
            create=lambda name, **kw: _Flapping(meter_id=kw["meter_id"], poll_interval_s=kw["poll_interval_s"]),
        )
    )
    async with asyncio.timeout(5):
        while len(readings) < 50:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [s.state for s in states] == ["connecting", "connected", "error"]
    assert states[-1].reason == "garbled reply: bad checksum"


class _Buggy(Driver):
    """A driver with a bug: its first read raises ValueError (outside the MeterError contract)."""

    name = "buggy"
    opens = 0

    async def open(self) -> None:
        type(self).opens += 1

    async def close(self) -> None:
        pass

    async def identify(self) -> MeterIdentity:
        return MeterIdentity(model="buggy")

    async def read(self) -> Reading:
        if type(self).opens == 1:
            raise ValueError("dead time must be >= 0 s, not -0.001")
        return Reading(meter=self.meter_id, ts=utc_now(), value=2.0, unit="uGy/h", quantity=Quantity.AIR_KERMA_RATE)


class _Steady(_Flapping):
    async def read(self) -> Reading:
        return Reading(meter=self.meter_id, ts=utc_now(), value=1.0, unit="uGy/h", quantity=Quantity.AIR_KERMA_RATE)


async def test_a_driver_bug_disconnects_that_meter_only_and_it_is_retried() -> None:
    states: list[MeterState] = []
    readings: list[Reading] = []

    def make(name: str, **kw: object) -> Driver:
        cls = _Buggy if name == "buggy" else _Steady
        return cls(meter_id=str(kw["meter_id"]), poll_interval_s=0.01)

    tasks = [
        asyncio.create_task(
            run_meter(
                MeterConfig(id=name, driver=name, poll_interval_s=0.01),
                on_reading=readings.append,
                on_state=states.append,
                backoff=Backoff(0.01, 0.02),
                create=make,
            )
        )
        for name in ("buggy", "steady")
    ]
    async with asyncio.timeout(5):
        while sum(r.meter == "buggy" for r in readings) < 3:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    for task in tasks:
        assert not task.done()
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    buggy = [(s.state, s.reason) for s in states if s.meter == "buggy"]
    assert buggy[:3] == [
        ("connecting", ""),
        ("connected", ""),
        ("disconnected", "driver error: ValueError: dead time must be >= 0 s, not -0.001"),
    ]
    assert [state for state, _ in buggy[3:5]] == ["connecting", "connected"]
    assert [s.state for s in states if s.meter == "steady"] == ["connecting", "connected"]
    assert sum(r.meter == "steady" for r in readings) >= 3


class _Hanging(_Steady):
    """Answers once, then never again (a read that only the runner's backstop ends)."""

    async def read(self) -> Reading:
        self.n += 1
        if self.n > 1:
            await asyncio.Event().wait()
        return await super().read()


async def test_a_read_stopped_by_the_read_timeout_backstop_counts_as_a_timeout() -> None:
    states: list[MeterState] = []
    cfg = MeterConfig(
        id="h", driver="hanging", poll_interval_s=0.01, connection={"read_timeout_s": 0.05, "max_timeouts": 2}
    )
    task = asyncio.create_task(
        run_meter(
            cfg,
            on_reading=lambda r: None,
            on_state=states.append,
            backoff=Backoff(5, 5),
            create=lambda name, **kw: _Hanging(meter_id=kw["meter_id"], poll_interval_s=0.01),
        )
    )
    async with asyncio.timeout(5):
        while not any(s.state == "disconnected" for s in states):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [(s.state, s.reason) for s in states[2:]] == [
        ("error", "timeout: read took over 0.05 s"),
        ("disconnected", "2 timeouts in a row: read took over 0.05 s"),
    ]


async def test_every_reconnect_gets_the_same_transport_connector(tmp_path) -> None:
    """What a connection learns (the GMC's line speed) lives in the meter's connector, kept across reconnects."""
    from radsurvey.drivers import registry

    given: list[object] = []

    def create(name: str, **kw):
        given.append(kw["connector"])
        return registry.create(name, **kw)

    cfg = MeterConfig(
        id="g",
        driver="gmc",
        port=str(tmp_path / "unplugged"),
        connection={"backoff_initial_s": 0.01, "backoff_max_s": 0.02},
    )
    task = asyncio.create_task(run_meter(cfg, on_reading=lambda r: None, on_state=lambda s: None, create=create))
    for _ in range(200):
        if len(given) >= 3:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(given) >= 3 and all(c is given[0] for c in given)
    assert given[0] is not None and given[0].port == str(tmp_path / "unplugged")
