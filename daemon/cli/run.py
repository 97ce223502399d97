"""``radsurvey run``: the acquisition daemon."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import STATE, fail

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig

    from ..journal import Journal
    from ..journal.recovery import JournalDamaged
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
    import functools

    from ..configure import load_checked
    from ..journal import Journal
    from ..notify import Notifier
    from ..supervisor import resolve_journal_path

    notifier = Notifier()
    cfg = load_checked(config)
    path = resolve_journal_path(cfg, journal_override)
    options: dict[str, Any] = {
        "commit_interval_s": cfg.journal.commit_interval_s,
        "batch_size": cfg.journal.batch_size,
        "synchronous": cfg.journal.synchronous,
        "run_config": str(config),
        "spill_dir": cfg.journal.spill_dir,
        "full_check_at_open_max_mb": cfg.journal.full_check_at_open_max_mb,
    }
    loop = asyncio.get_running_loop()
    stop_at = None if duration_s is None else loop.time() + duration_s
    opener = functools.partial(Journal.open_or_start_fresh, path, **options)
    asked: list[str] = []  # a stop was asked (SIGTERM, SIGINT, --duration), whichever daemon heard it
    try:
        while True:
            jr = await _open(opener, notifier)
            if asked:  # asked while a damaged journal was being set aside: the fresh one is made, not run
                await asyncio.to_thread(jr.close)
                break
            damage = await _run_on(cfg, jr, path, as_json, stop_at, notifier, asked)
            if damage is None:
                break
            # Damage found after open (the background quick_check, a commit or a read): everything that used
            # the file has stopped and the writer has closed it; then the same as damage found at open (and
            # when a stop was asked meanwhile, the fresh journal is made and closed: the next start is clean).
            opener = functools.partial(Journal.start_fresh, path, damage, carried=jr.carried, **options)
    finally:
        notifier.close()


async def _open(opener: Callable[[], Journal], notifier: Notifier) -> Journal:
    import asyncio

    opening = asyncio.ensure_future(asyncio.to_thread(opener))
    # Upgrading a large 0.1 journal takes minutes (docs/sinks.md): tell systemd we are alive and starting.
    while not opening.done():
        await asyncio.wait({opening}, timeout=20)
        if not opening.done():
            notifier.send(EXTEND_TIMEOUT_USEC=str(60_000_000), WATCHDOG="1", STATUS="upgrading the journal")
    return opening.result()


async def _run_on(
    cfg: DaemonConfig,
    jr: Journal,
    path: Path,
    as_json: bool,
    stop_at: float | None,
    notifier: Notifier,
    asked: list[str],
) -> JournalDamaged | None:
    """Run the daemon on ``jr`` until a stop (noted in ``asked``) or damage found in it; close ``jr``; the damage."""
    import asyncio
    import contextlib
    import signal
    import sys

    import structlog

    from .. import console
    from ..memory import freeze_after_start, trim_periodically
    from ..supervisor import Daemon

    log = structlog.get_logger("radsurvey.run")
    clean = False
    loop = asyncio.get_running_loop()
    daemon: Daemon | None = None
    timer: asyncio.TimerHandle | None = None
    try:
        from ..alarms.service import services_for
        from ..sinks import build_services
        from ..web import services_for as web_services

        daemon = Daemon(cfg, jr, services=[*services_for(cfg), *build_services(cfg), *web_services(cfg)])
        systemd = _systemd_task(daemon, notifier)

        def request_stop(reason: str) -> None:
            asked.append(reason)
            _request_stop(daemon, reason, notifier)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_stop, sig.name)
        if stop_at is not None:
            timer = loop.call_at(stop_at, request_stop, "duration")

        # Damage found after open (the background check, a commit, a read) stops this daemon: see _main.
        stop = daemon.stop_event

        def on_damage(_err: JournalDamaged) -> None:  # any thread
            loop.call_soon_threadsafe(stop.set)

        jr.add_damage_listener(on_damage)
        jr.start_background_check()

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
        clean = jr.damage is None
    finally:
        if timer is not None:
            timer.cancel()  # a daemon that goes on in a fresh journal has its own
        if jr.damage is None or daemon is None or asked:
            notifier.stopping()  # (not when the daemon goes on in a fresh journal)
        # Within the 5 s a stop may take (issue 12 §5), whatever the disk does; a normal close takes milliseconds.
        asked_at = daemon.stop_requested_at if daemon is not None else None
        timeout_s = 60.0 if asked_at is None else max(1.0, 4.5 - (loop.time() - asked_at))
        await asyncio.to_thread(jr.close, clean=clean, timeout_s=timeout_s)
        log.info("journal closed", path=str(path), clean=clean, committed_seq=jr.committed_seq)
    return jr.damage


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
