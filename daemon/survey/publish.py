"""Live publishing of a survey: the configured sinks run on the survey journal.

A survey journal has the daemon's schema, so the MQTT and InfluxDB sinks can
replay it exactly as they replay a fixed monitor's journal: each from its own
durable cursor, at least once. The publisher runs those sinks on an event loop
in a background thread, while the capture flow (synchronous, in the main thread)
keeps being the journal's only writer of survey rows. Whenever the store records
an evaluated point, :meth:`SurveyPublisher.notify` wakes the sinks, so a dashboard
sees each point as soon as it is measured. Offline, nothing is lost: the points
wait in the journal and go out with the next ``survey start/resume --config`` or
``survey publish``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from radsurvey.protocols.errors import ConfigError

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

    from ..journal import Journal
    from ..sinks.base import CursorSink
    from ..supervisor import Daemon

log = structlog.get_logger("radsurvey.survey.publish")


def load_publish_config(path: Path) -> DaemonConfig:
    """A daemon config used only for its ``[site]``, ``[mqtt]`` and ``[influxdb]``; meters and channels are ignored."""
    from radsurvey.config import load_config

    cfg = load_config(path)
    if not (cfg.mqtt is not None and cfg.mqtt.enabled) and not (cfg.influxdb is not None and cfg.influxdb.enabled):
        raise ConfigError(f"{path}: no enabled [mqtt] or [influxdb] section to publish the survey to")
    return cfg.model_copy(update={"meters": [], "channels": []})


@dataclass(frozen=True)
class SinkProgress:
    """Where one sink stands when the publisher stops."""

    sink: str
    connected: bool
    backlog: int
    last_error: str


class SurveyPublisher:
    """Runs the MQTT/InfluxDB sinks of ``cfg`` on the survey journal at ``path``."""

    def __init__(self, cfg: DaemonConfig, path: Path, *, start_timeout_s: float = 30.0):
        self.cfg = cfg
        self.path = Path(path)
        self.start_timeout_s = start_timeout_s
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._daemon: Daemon | None = None
        self._journal: Journal | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> SurveyPublisher:
        self._thread = threading.Thread(target=self._main, name="radsurvey-survey-publish", daemon=True)
        self._thread.start()
        if not self._started.wait(self.start_timeout_s):
            raise ConfigError(f"the publisher did not start within {self.start_timeout_s:g} s")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as err:  # reported to the caller of start() or close()
            self._error = err
            self._started.set()

    async def _run(self) -> None:
        from ..journal import Journal
        from ..sinks import build_services
        from ..supervisor import Daemon

        journal = Journal(self.path, commit_interval_s=0.2, synchronous="full", run_config="survey publisher")
        try:
            # Retention is the fixed monitor's business: a survey journal keeps everything.
            services = [s for s in build_services(self.cfg) if s.name != "retention"]
            daemon = Daemon(self.cfg, journal, services=services)
            self._journal, self._daemon = journal, daemon
            self._loop = asyncio.get_running_loop()
            self._started.set()
            await daemon.run()
        finally:
            await asyncio.to_thread(journal.close)

    def notify(self, seq: int) -> None:
        """The store committed a row with ``seq`` (called from the capture thread)."""
        if self._journal is not None:
            self._journal.note_external_commit(seq)

    @property
    def sinks(self) -> list[CursorSink]:
        if self._daemon is None:
            return []
        return [s for s in self._daemon.services if hasattr(s, "cursor")]  # type: ignore[misc]

    def progress(self) -> list[SinkProgress]:
        target = self._journal.committed_seq if self._journal is not None else 0
        return [SinkProgress(s.name, s.connected, max(0, target - s.cursor), s.last_error) for s in self.sinks]

    def drained(self) -> bool:
        return all(p.backlog == 0 for p in self.progress())

    def wait_drained(self, timeout_s: float) -> bool:
        """Wait until every sink delivered everything committed so far (or the time is up)."""
        deadline = time.monotonic() + timeout_s
        while not self.drained():
            if time.monotonic() >= deadline or (self._thread is not None and not self._thread.is_alive()):
                return self.drained()
            time.sleep(0.05)
        return True

    def close(self, *, drain_timeout_s: float = 10.0) -> list[SinkProgress]:
        """Give the sinks up to ``drain_timeout_s`` to deliver, stop them; return what each still owes."""
        if self._thread is None:
            return []
        self.wait_drained(drain_timeout_s)
        left = self.progress()
        loop, daemon = self._loop, self._daemon
        if loop is not None and daemon is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(daemon.stop_event.set)
            except RuntimeError:  # loop already closing
                pass
        self._thread.join(timeout=30)
        self._thread = None
        return left

    def __enter__(self) -> SurveyPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def describe(left: list[SinkProgress]) -> list[str]:
    """One line per sink that still owes points, saying how they will get there."""
    lines = []
    for p in left:
        if p.backlog:
            why = f": {p.last_error}" if p.last_error else (" (not connected)" if not p.connected else "")
            lines.append(
                f"{p.sink}: {p.backlog} survey row(s) not delivered yet{why}; they stay in the survey journal "
                "and go out with the next `radsurvey survey publish` (or start/resume with --config)"
            )
    return lines


def status_of(left: list[SinkProgress]) -> dict[str, Any]:
    return {p.sink: {"connected": p.connected, "backlog": p.backlog, "last_error": p.last_error} for p in left}
