"""A running daemon with the web console: a simulated meter whose beam trips an instant alarm."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

from radsurvey.config import parse_config
from radsurvey.config.schema import DaemonConfig
from radsurvey.daemon.alarms.service import AlarmService
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.supervisor import Daemon
from radsurvey.daemon.web.auth import UsersFile
from radsurvey.daemon.web.service import WebService

PASSWORD = "correct horse battery"


def web_config(
    tmp_path: Path, *, web: dict[str, Any] | None = None, beam: bool = True, **sections: Any
) -> DaemonConfig:
    """Channel ``door`` (category 5, DMD_E 1.3) on a 5 Hz simulated meter; ``spare`` on a meter never started."""
    return parse_config(
        {
            "site": {"id": "clinic-1", "name": "Clinic 1"},
            "journal": {"path": str(tmp_path / "j.sqlite"), "commit_interval_s": 0.05},
            "meters": [
                {
                    "id": "m1",
                    "driver": "simulated",
                    "poll_interval_s": 0.2,
                    "seed": 3,
                    "background_uGy_h": 0.12,
                    "beam_uGy_h": 40.0 if beam else 0.0,
                    "beam_period_s": 4,
                    "beam_on_s": 1,
                    "beam_start_s": 1,
                },
                {"id": "m2", "driver": "simulated", "enabled": False},
            ],
            "channels": [
                {
                    "id": "door",
                    "meter": "m1",
                    "room_category": 5,
                    "location": "corridor",
                    "averaging_window_s": 0.5,
                    "alarms": [{"kind": "instant", "level_uSv_h": 5.0, "window_s": 0.5, "latching": True}],
                },
                {"id": "spare", "meter": "m2", "room_category": 5},
            ],
            "alarms": {"tick_interval_s": 0.2, "ack_poll_interval_s": 0.1},
            "web": {"listen": "127.0.0.1:0", "users_file": str(tmp_path / "users"), **(web or {})},
            **sections,
        },
        environ={},
    )


class Running:
    def __init__(self, daemon: Daemon, web: WebService, alarms: AlarmService, base: str):
        self.daemon, self.web, self.alarms, self.base = daemon, web, alarms, base

    def url(self, path: str) -> str:
        return self.base + path


@asynccontextmanager
async def running(cfg: DaemonConfig, *, ssl: bool = False) -> AsyncIterator[Running]:
    from radsurvey.daemon.sinks import build_services

    UsersFile(cfg.web.users_file).set_password("alice", PASSWORD)  # type: ignore[union-attr]
    journal = Journal(cfg.journal.path, commit_interval_s=0.05)
    alarms = AlarmService(cfg, clock_synchronised=lambda: True)
    web = WebService(cfg)
    daemon = Daemon(cfg, journal, services=[alarms, *build_services(cfg), web])
    task = asyncio.create_task(daemon.run())
    try:
        await asyncio.wait_for(web.listening.wait(), 20)
        scheme = "https" if ssl else "http"
        yield Running(daemon, web, alarms, f"{scheme}://127.0.0.1:{web.port}")
    finally:
        daemon.stop_event.set()
        await asyncio.wait_for(task, 20)
        journal.close()


def client(**kwargs: Any) -> aiohttp.ClientSession:
    # unsafe=True: keep cookies set by an IP-address host (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), **kwargs)


async def login(http: aiohttp.ClientSession, run: Running, name: str = "alice", password: str = PASSWORD) -> str:
    """Log in through the JSON login; returns the session's CSRF token."""
    async with http.post(run.url("/login"), json={"name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["csrf"])


async def wait_for(predicate, timeout_s: float = 15.0, every_s: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met within the deadline")
        await asyncio.sleep(every_s)
