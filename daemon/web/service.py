"""The web console as a supervisor service: our small HTTP server (``http.py``) on the daemon's own event loop.

It runs inside the supervisor's TaskGroup like the sinks and the alarm service.
A console that cannot listen (port taken, unreadable certificate) logs one error
and retries every ``RETRY_S``; it never stops acquisition.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from ..memory import release_freed_memory
from .app import Console, build_app
from .auth import UsersFile
from .http import Server
from .live import LiveState

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.web")
RETRY_S = 30.0


def users_file(cfg: DaemonConfig) -> Path:
    from radsurvey.config.web import WebConfig

    web_cfg = cfg.web or WebConfig()
    path: Path = web_cfg.resolved_users_file(os.environ.get("STATE_DIRECTORY", "").split(":")[0] or None)
    return path


class WebService:
    """Serves the console while the daemon runs; ``port`` is the bound port once listening."""

    name = "web"

    def __init__(self, cfg: DaemonConfig):
        assert cfg.web is not None
        self.cfg = cfg
        self.web_cfg = cfg.web
        self.live = LiveState(cfg, stale_after_s=cfg.web.stale_after_s)
        self.port: int | None = None
        self.listening = asyncio.Event()
        self.console: Console | None = None

    def _ssl(self) -> ssl.SSLContext | None:
        if not self.web_cfg.tls:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.web_cfg.tls_cert_file), str(self.web_cfg.tls_key_file))
        return ctx

    async def run(self, daemon: Daemon) -> None:
        from ..alarms.service import AlarmService

        alarms = next((s for s in daemon.services if isinstance(s, AlarmService)), None)
        self.live.attach(daemon, alarms)
        self.console = Console(
            self.cfg,
            self.web_cfg,
            live=self.live,
            journal_path=Path(daemon.journal.path),
            users=UsersFile(users_file(self.cfg)),
            alarms=alarms,
            journal=daemon.journal,
        )
        server = Server(build_app(), app=self.console)
        try:
            await daemon.journal.aflush()
            # Each worker-thread read opens and closes its own connection: a thread that outlives a cancelled
            # task (to_thread cannot stop it) never finds its connection closed under it at shutdown.
            await self.console.query(self.live.preload)
            while True:
                try:
                    self.port = await server.start(self.web_cfg.host, self.web_cfg.port, ssl_context=self._ssl())
                    break
                except (OSError, ssl.SSLError) as err:
                    log.error(
                        "web console cannot listen; retrying",
                        listen=self.web_cfg.listen,
                        error=str(err),
                        retry_in_s=RETRY_S,
                    )
                    await asyncio.sleep(RETRY_S)
            scheme = "https" if self.web_cfg.tls else "http"
            log.info(
                "web console listening", url=f"{scheme}://{self.web_cfg.host}:{self.port}/", view=self.web_cfg.view
            )
            self.listening.set()
            release_freed_memory()  # what importing the console left freed on the heap
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.live.tick_loop(self.console.query), name="web:tick")
        finally:
            self.live.detach()
            await server.close()
            self.console.close()
