"""``radsurvey run``: the acquisition daemon."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import STATE, fail

if TYPE_CHECKING:
    from ..notify import Notifier
    from ..supervisor import Daemon


def register(app: typer.Typer) -> None:
    app.command("run")(run_command)


def run_command(
    config: Path = typer.Option(..., "--config", "-c", help="daemon config (TOML)"),
    journal: Path | None = typer.Option(None, "--journal", "-j", help="journal file (overrides [journal].path)"),
    as_json: bool = typer.Option(False, "--json", help="print each sample as a JSON line instead of the live table"),
    duration_s: float | None = typer.Option(None, "--duration", min=0, help="stop after this many seconds"),
) -> None:
    """Run the acquisition daemon until SIGINT/SIGTERM (or --duration)."""
    import asyncio

    from radsurvey.protocols.errors import RadsurveyError

    from ..logging import configure_logging
    from ..memory import limit_malloc_arenas

    limit_malloc_arenas()  # before the first thread (daemon/memory.py)
    configure_logging(json=True if STATE.log_json else None, verbose=STATE.verbose)
    try:
        asyncio.run(_main(config, journal, as_json, duration_s))
    except RadsurveyError as err:
        if STATE.verbose:
            import traceback

            traceback.print_exc()
        fail(str(err))
    except KeyboardInterrupt:  # second Ctrl-C while shutting down
        raise typer.Exit(130) from None


async def _main(config: Path, journal_override: Path | None, as_json: bool, duration_s: float | None) -> None:
    import asyncio
    import contextlib
    import signal
    import sys

    import structlog

    from .. import console
    from ..configure import load_checked
    from ..journal import Journal
    from ..memory import freeze_after_start, trim_periodically
    from ..notify import Notifier
    from ..supervisor import Daemon, resolve_journal_path

    log = structlog.get_logger("radsurvey.run")
    notifier = Notifier()
    cfg = load_checked(config)
    path = resolve_journal_path(cfg, journal_override)
    opening = asyncio.ensure_future(
        asyncio.to_thread(
            Journal.open_or_start_fresh,
            path,
            commit_interval_s=cfg.journal.commit_interval_s,
            batch_size=cfg.journal.batch_size,
            synchronous=cfg.journal.synchronous,
            run_config=str(config),
            spill_dir=cfg.journal.spill_dir,
        )
    )
    # Upgrading a large 0.1 journal takes minutes (docs/sinks.md): tell systemd we are alive and starting.
    while not opening.done():
        await asyncio.wait({opening}, timeout=20)
        if not opening.done():
            notifier.send(EXTEND_TIMEOUT_USEC=str(60_000_000), WATCHDOG="1", STATUS="upgrading the journal")
    jr = opening.result()
    clean = False
    loop = asyncio.get_running_loop()
    daemon: Daemon | None = None
    try:
        from ..alarms.service import services_for
        from ..sinks import build_services
        from ..web import services_for as web_services

        daemon = Daemon(cfg, jr, services=[*services_for(cfg), *build_services(cfg), *web_services(cfg)])
        systemd = _systemd_task(daemon, notifier)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _request_stop, daemon, sig.name, notifier)
        if duration_s is not None:
            loop.call_later(duration_s, _request_stop, daemon, "duration", notifier)

        live = None
        if as_json:
            daemon.observers.samples.append(console.line_printer(console.json_line))
        elif sys.stdout.isatty():
            from rich.live import Live

            live = Live(get_renderable=lambda: console.live_table(daemon), refresh_per_second=2, transient=False)
        else:
            daemon.observers.samples.append(console.line_printer(console.text_line))
        with live if live is not None else contextlib.nullcontext():
            extra = [systemd, trim_periodically]
            if cfg.runtime.gc_freeze_after_start:
                extra.append(freeze_after_start)
            await daemon.run(extra=extra)
        clean = True
    finally:
        notifier.stopping()
        # Within the 5 s a stop may take (issue 12 §5), whatever the disk does; a normal close takes milliseconds.
        asked = daemon.stop_requested_at if daemon is not None else None
        timeout_s = 60.0 if asked is None else max(1.0, 4.5 - (loop.time() - asked))
        await asyncio.to_thread(jr.close, clean=clean, timeout_s=timeout_s)
        notifier.close()
        log.info("journal closed", path=str(path), clean=clean, committed_seq=jr.committed_seq)


def _request_stop(daemon, reason: str, notifier) -> None:  # type: ignore[no-untyped-def]
    import structlog

    if not daemon.stop_event.is_set():
        import asyncio

        structlog.get_logger("radsurvey.run").info("stop requested", reason=reason)
        notifier.stopping()
        daemon.stop_requested_at = asyncio.get_running_loop().time()
    daemon.stop_event.set()


def _systemd_task(daemon: Daemon, notifier: Notifier) -> Callable[[], Coroutine[Any, Any, None]]:
    """The task that tells systemd READY=1 once the supervisor runs, then feeds its watchdog."""
    from ..notify import Watchdog, meter_heartbeats, status_line

    watchdog = Watchdog(notifier, meter_heartbeats(daemon), status=lambda: status_line(daemon))

    async def _run() -> None:
        # Tasks start in creation order: by now every meter and service task has been created.
        notifier.ready(status_line(daemon))
        await watchdog.run()

    return _run
