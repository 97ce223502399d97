"""Connection management against pty emulators: unplug/replug, garbage, silence, stale."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from radsurvey.config.schema import MeterConfig
from radsurvey.drivers.base import Reading, Status
from radsurvey.drivers.emulator import PtyEmulator
from radsurvey.drivers.gmc.emulator import GmcDevice
from radsurvey.drivers.radpro.emulator import RadProDevice
from radsurvey.drivers.runner import MeterState, run_meter

pytestmark = pytest.mark.integration

FAST = {"backoff_initial_s": 0.1, "backoff_max_s": 0.4, "connect_timeout_s": 3}


class Recorder:
    def __init__(self) -> None:
        self.readings: list[Reading] = []
        self.states: list[MeterState] = []
        self.alive = 0  # on_alive calls: one per connect attempt, besides those while reading

    def mark_alive(self) -> None:
        self.alive += 1

    def names(self) -> list[str]:
        return [s.state for s in self.states]

    async def until(self, check: Callable[[], bool], timeout_s: float = 15) -> None:
        async with asyncio.timeout(timeout_s):
            while not check():  # noqa: ASYNC110 (polls callbacks' results)
                await asyncio.sleep(0.02)


async def running(cfg: MeterConfig, rec: Recorder):
    return asyncio.create_task(
        run_meter(cfg, on_reading=rec.readings.append, on_state=rec.states.append, on_alive=rec.mark_alive)
    )


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def gmc_cfg(port: str, **connection) -> MeterConfig:
    return MeterConfig(
        id="g1",
        driver="gmc",
        poll_interval_s=0.1,
        port=port,
        timeout_s=0.3,
        read_clock=False,
        connection={**FAST, **connection},
    )


async def test_unplug_and_replug_reconnects_without_duplicate_or_invented_readings(tmp_path: Path) -> None:
    device = GmcDevice(step=1)
    rec = Recorder()
    with PtyEmulator(device, link=tmp_path / "usb-GQ_GMC-320-if00-port0") as emu:
        task = await running(gmc_cfg(emu.port), rec)
        await rec.until(lambda: len(rec.readings) >= 5)
        emu.unplug()
        await rec.until(lambda: "disconnected" in rec.names())
        attempts = rec.alive
        await rec.until(lambda: rec.alive >= attempts + 3)  # a few failed reopen attempts while unplugged
        before = len(rec.readings)
        emu.replug()
        await rec.until(lambda: len(rec.readings) >= before + 5)
        await stop(task)
    values = [r.value for r in rec.readings]
    assert values == sorted(set(values)), "a reading was repeated or reordered"
    assert set(values) <= set(device.cpm_served), "a reading was invented"
    names = rec.names()
    first_disconnect = names.index("disconnected")
    assert "connected" in names[first_disconnect:], names
    reasons = [s.reason for s in rec.states if s.state == "disconnected"]
    assert "disconnected" in reasons[0] or "does not exist" in reasons[0]


async def test_garbage_streak_reports_errors_then_disconnects_and_recovers(tmp_path: Path) -> None:
    rec = Recorder()
    with PtyEmulator(GmcDevice(step=1)) as emu:
        task = await running(gmc_cfg(emu.port, max_garbage=3), rec)
        await rec.until(lambda: len(rec.readings) >= 2)
        emu.fault = "garbage"
        await rec.until(lambda: "disconnected" in rec.names())
        emu.fault = None
        n = len(rec.readings)
        await rec.until(lambda: len(rec.readings) >= n + 2)
        await stop(task)
    errors = [s for s in rec.states if s.state == "error"]
    assert errors and "garbled" in errors[0].reason
    assert any("garbled replies in a row" in s.reason for s in rec.states if s.state == "disconnected")


async def test_silence_reports_timeouts_then_disconnects(tmp_path: Path) -> None:
    rec = Recorder()
    with PtyEmulator(GmcDevice(step=1)) as emu:
        task = await running(gmc_cfg(emu.port, max_timeouts=2), rec)
        await rec.until(lambda: len(rec.readings) >= 2)
        emu.fault = "silence"
        await rec.until(lambda: "disconnected" in rec.names())
        await stop(task)
    assert any(s.state == "error" and "timeout" in s.reason for s in rec.states)
    assert any("timeouts in a row" in s.reason for s in rec.states if s.state == "disconnected")


async def test_no_fresh_reading_for_stale_after_s_is_stale(tmp_path: Path) -> None:
    rec = Recorder()
    with PtyEmulator(GmcDevice(step=1)) as emu:
        task = await running(gmc_cfg(emu.port, max_timeouts=1000, stale_after_s=0.8), rec)
        await rec.until(lambda: len(rec.readings) >= 2)
        emu.fault = "silence"
        await rec.until(lambda: "stale" in rec.names())
        emu.fault = None
        await rec.until(lambda: rec.states[-1].state == "connected")
        await stop(task)
    stale = next(s for s in rec.states if s.state == "stale")
    assert "no fresh reading" in stale.reason
    assert rec.states[-1].reason == "recovered"


async def test_frozen_counter_is_stale_and_its_readings_are_flagged() -> None:
    device = RadProDevice(cps=20)
    rec = Recorder()
    cfg = MeterConfig(
        id="r1",
        driver="radpro",
        poll_interval_s=0.1,
        timeout_s=0.5,
        connection={**FAST, "frozen_after_s": 0.5},
    )
    with PtyEmulator(device) as emu:
        cfg = MeterConfig.model_validate({**cfg.model_dump(), "port": emu.port})
        task = await running(cfg, rec)
        await rec.until(lambda: len(rec.readings) >= 3)
        device.frozen = True
        await rec.until(lambda: "stale" in rec.names())
        device.frozen = False
        await rec.until(lambda: rec.names()[-1] == "connected")
        await stop(task)
    stale = next(s for s in rec.states if s.state == "stale")
    assert "frozen" in stale.reason
    flagged = [r for r in rec.readings if Status.STALE in r.status]
    assert flagged and all(r.meter_value == 0 for r in flagged)


async def test_meter_absent_at_start_is_retried_until_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "usb-Gissio_Rad_Pro-if00"
    rec = Recorder()
    cfg = MeterConfig(id="r1", driver="radpro", poll_interval_s=0.1, port=str(link), connection=FAST)
    task = await running(cfg, rec)
    await rec.until(lambda: "disconnected" in rec.names())
    await asyncio.sleep(1.0)  # several more attempts while it is away
    with PtyEmulator(RadProDevice(), link=link):
        await rec.until(lambda: len(rec.readings) >= 2)
        await stop(task)
    assert "does not exist" in next(s.reason for s in rec.states if s.state == "disconnected")
    # repeated failed attempts are reported once, not once per retry
    assert rec.names().count("disconnected") == 1


def trouble_between(names: list[str], start: int) -> list[str]:
    """The states from ``start`` up to (not including) the next 'disconnected'."""
    rest = names[start:]
    return rest[: rest.index("disconnected")] if "disconnected" in rest else rest


async def test_alternating_garbage_and_silence_is_one_streak_and_the_meter_is_reopened() -> None:
    rec = Recorder()
    with PtyEmulator(GmcDevice(step=1)) as emu:
        task = await running(gmc_cfg(emu.port, max_garbage=3, max_timeouts=2, stale_after_s=0.5), rec)
        await rec.until(lambda: len(rec.readings) >= 2)
        emu.fault = "alternate"
        await rec.until(lambda: "disconnected" in rec.names())
        await asyncio.sleep(1.0)  # failed reopen attempts while the fault lasts
        emu.fault = None
        await rec.until(lambda: rec.names()[-1] == "connected" and len(rec.states) > 3)
        n = len(rec.readings)
        await rec.until(lambda: len(rec.readings) >= n + 2)
        await stop(task)
    names = rec.names()
    assert trouble_between(names, 2) in (["error"], ["error", "stale"]), names
    gone = next(s for s in rec.states if s.state == "disconnected")
    assert "garbled replies and 2 timeouts in a row" in gone.reason, gone.reason
    assert len(names) <= 10, names  # a handful of events, not one per bad reply
    assert names[-1] == "connected" and names.index("disconnected") < len(names) - 1


async def test_silence_beyond_stale_after_s_is_error_then_stale_not_a_flood() -> None:
    rec = Recorder()
    with PtyEmulator(GmcDevice(step=1)) as emu:
        # stale_after_s is shorter than max_timeouts x timeout_s: the meter goes stale mid-streak
        task = await running(gmc_cfg(emu.port, max_timeouts=6, stale_after_s=0.5), rec)
        await rec.until(lambda: len(rec.readings) >= 2)
        emu.fault = "silence"
        await rec.until(lambda: "disconnected" in rec.names())
        await stop(task)
    names = rec.names()
    assert names[:2] == ["connecting", "connected"]
    assert trouble_between(names, 2) == ["error", "stale"], names
    assert "6 timeouts in a row" in rec.states[names.index("disconnected")].reason
