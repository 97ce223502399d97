"""Shared fixtures: real servers, a fail-on-leftover-tasks guard."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import InfluxDB1, InfluxPeer, Mosquitto, VictoriaMetrics


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path / "mosquitto")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path / "vm")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def influxdb1(tmp_path: Path) -> Iterator[InfluxDB1]:
    """A real InfluxDB 1.x (influxd) with a database ``radsurvey``."""
    server = InfluxDB1(tmp_path / "influxd")
    server.start()
    try:
        server.create_database("radsurvey")
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if inspect.iscoroutinefunction(getattr(item, "function", None)):
            item.add_marker(pytest.mark.usefixtures("_no_leftover_tasks"))


@pytest.fixture
async def _no_leftover_tasks() -> None:
    """Fail any async test that leaves tasks running (ophyd-async's rule)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()]
    if left:
        for t in left:
            t.cancel()
        pytest.fail(f"test left tasks running: {[t.get_name() for t in left]}")


@pytest.fixture
def influx_peer() -> Iterator[InfluxPeer]:
    """An InfluxDB write endpoint that accepts everything; tests set ``influx_peer.answer`` to refuse."""
    peer = InfluxPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.stop()
