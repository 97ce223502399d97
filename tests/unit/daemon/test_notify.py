"""sd_notify datagrams on a real unix socket; the watchdog stops when the daemon is unhealthy."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from radsurvey.daemon.notify import Heartbeats, Notifier, Watchdog


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[tuple[float, str]]:
    out = []
    while True:
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except BlockingIOError:
            return out


def test_without_notify_socket_every_call_is_a_no_op() -> None:
    n = Notifier({})
    assert not n.enabled and not n.ready("x") and n.watchdog_s is None


def test_ready_status_and_stopping_reach_the_socket(notify_socket: socket.socket) -> None:
    n = Notifier({"NOTIFY_SOCKET": notify_socket.getsockname()})
    assert n.ready("1/1 meters connected")
    assert n.stopping() and n.stopping()  # sent once
    n.close()
    assert [m for _, m in received(notify_socket)] == [
        "READY=1\nSTATUS=1/1 meters connected",
        "STOPPING=1\nSTATUS=stopping",
    ]


def test_abstract_namespace_addresses_are_supported() -> None:
    name = f"radsurvey-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.send(READY="1")
        assert sock.recv(100) == b"READY=1"
        n.close()
    finally:
        sock.close()


def test_watchdog_interval_comes_from_watchdog_usec_for_this_pid_only() -> None:
    assert Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000"}).watchdog_s == 4.0
    other = Notifier({"NOTIFY_SOCKET": "/x", "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_s is None


async def test_watchdog_pings_at_half_the_interval_and_stops_while_the_loop_is_blocked(
    notify_socket: socket.socket,
) -> None:
    n = Notifier({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "200000"})
    wd = Watchdog(n, Heartbeats({}), status=lambda: "ok")
    task = asyncio.create_task(wd.run())
    try:
        await asyncio.sleep(0.55)
        before = [m for _, m in received(notify_socket)]
        assert len(before) >= 4 and all(m == "WATCHDOG=1\nSTATUS=ok" for m in before)
        blocked_at = time.monotonic()
        time.sleep(0.6)  # noqa: ASYNC251 - the point: a blocking call on the event loop
        unblocked_at = time.monotonic()
        await asyncio.sleep(0.01)
        after_block = received(notify_socket)
        # the tick that wakes up late does not ping; it reports why instead
        assert after_block and all(m.startswith("STATUS=unhealthy: event loop") for _, m in after_block)
        assert all(t >= unblocked_at for t, _ in after_block) and unblocked_at - blocked_at >= 0.6
        await asyncio.sleep(0.35)
        assert any(m.startswith("WATCHDOG=1") for _, m in received(notify_socket))  # healthy again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        n.close()


async def test_watchdog_stops_when_a_meter_task_goes_silent(notify_socket: socket.socket) -> None:
    n = Notifier({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "100000"})
    hb = Heartbeats({"meter:a": 0.3})
    wd = Watchdog(n, hb)
    task = asyncio.create_task(wd.run())
    try:
        await asyncio.sleep(0.2)
        assert any(m == "WATCHDOG=1" for _, m in received(notify_socket))
        await asyncio.sleep(0.3)
        received(notify_socket)
        await asyncio.sleep(0.2)
        late = [m for _, m in received(notify_socket)]
        assert late and all(m == "STATUS=unhealthy: no sign of life from meter:a" for m in late)
        hb.beat("meter:a")
        await asyncio.sleep(0.15)
        assert "WATCHDOG=1" in [m for _, m in received(notify_socket)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        n.close()


async def run_daemon_collecting(daemon, watchdog: Watchdog, sock: socket.socket, duration_s: float) -> list[str]:
    """Run ``daemon`` with ``watchdog`` for ``duration_s``, reading the datagrams as they come."""
    task = asyncio.create_task(daemon.run(extra=[watchdog.run]))
    messages: list[str] = []
    try:
        for _ in range(round(duration_s / 0.1)):
            await asyncio.sleep(0.1)  # the socket queues only a few datagrams: read them as they come
            messages += [m for _, m in received(sock)]
            assert not task.done()
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 10)
        daemon.journal.close()
        watchdog.notifier.close()
    return messages + [m for _, m in received(sock)]


def daemon_for(tmp_path: Path, meter: dict):
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.supervisor import Daemon

    cfg = parse_config({"meters": [meter]}, environ={})
    return Daemon(cfg, Journal(tmp_path / "j.sqlite", commit_interval_s=0.05), alive_every_s=0.05)


async def test_a_meter_that_stays_unplugged_keeps_the_watchdog_fed(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    """Retrying with backoff is progress: the pings go on (systemd must not restart us for it)."""
    from radsurvey.daemon.notify import meter_heartbeats

    connection = {"backoff_initial_s": 0.05, "backoff_max_s": 1.0, "connect_timeout_s": 0.1, "read_timeout_s": 0.1}
    daemon = daemon_for(
        tmp_path, {"id": "gmc", "driver": "gmc", "port": str(tmp_path / "unplugged"), "connection": connection}
    )
    n = Notifier({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "100000"})
    # The backoff (up to 1 s) is longer than the silence allowed (0.3 s): only the
    # signs of life while it waits keep the meter's heartbeat going.
    messages = await run_daemon_collecting(
        daemon, Watchdog(n, meter_heartbeats(daemon, floor_s=0.3)), notify_socket, 2.5
    )
    assert [m for m in messages if m != "WATCHDOG=1"] == []
    assert len(messages) >= 20  # one every 50 ms for 2.5 s, less a late tick or two
    assert daemon.meter_states["gmc"].state == "disconnected"


async def test_the_watchdog_stops_for_a_meter_task_that_shows_no_sign_of_life(
    notify_socket: socket.socket, tmp_path: Path
) -> None:
    from radsurvey.daemon.notify import meter_heartbeats

    connection = {"connect_timeout_s": 0.1, "read_timeout_s": 0.1}
    daemon = daemon_for(
        tmp_path, {"id": "sim", "driver": "simulated", "poll_interval_s": 0.05, "connection": connection}
    )
    n = Notifier({"NOTIFY_SOCKET": notify_socket.getsockname(), "WATCHDOG_USEC": "100000"})
    heartbeats = meter_heartbeats(daemon, floor_s=0.3)
    daemon.observers.meter_alive.clear()  # as if the task hung: its signs of life stop
    messages = await run_daemon_collecting(daemon, Watchdog(n, heartbeats), notify_socket, 1.0)
    assert messages[0] == "WATCHDOG=1" and messages[-1] == "STATUS=unhealthy: no sign of life from meter:sim"
