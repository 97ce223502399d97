"""The ``radsurvey`` command.

Only typer is imported at start-up; every command imports what it needs inside
its function, so that ``radsurvey --help`` stays fast (docs/architecture.md#performance). Command
groups live in sibling modules and are attached in :func:`_build` when ``app`` is first asked
for; ``radsurvey run`` attaches only itself (a daemon that runs for months does not keep the
other command groups' modules in memory: benchmarks/README.md, RSS).
"""

from __future__ import annotations

import typer

from .common import fail, run_command

_app = typer.Typer(
    name="radsurvey",
    help="Acquisition daemon for radiation survey meters: X-ray room surveys, fixed monitors, MQTT and InfluxDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich help imports rich.markdown and markdown-it, a
    # third of the start-up time (DESIGN §6: --help <= 0.3 s).
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},
)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"radsurvey {version('radsurvey')}")
        raise typer.Exit()


@_app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and debug logs."),
    log_json: bool = typer.Option(False, "--log-json", help="Log JSON lines even on a terminal."),
) -> None:
    from . import common

    common.STATE.verbose = verbose
    common.STATE.log_json = log_json
    from .profiles import use_profile_dirs

    use_profile_dirs()
    if not verbose:
        import logging

        # pymodbus logs through the standard library, whose fallback handler prints
        # its own "Failed to connect ..." line before our one-line error (and on every
        # reconnect attempt of the daemon). Our messages say the same; --verbose shows them.
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL + 1)


_built: set[str] = set()


def _build(*, only_run: bool = False) -> typer.Typer:
    """The app with every command group, or with ``run`` alone; each group is attached once."""
    if "all" in _built or (only_run and "run" in _built):
        return _app
    if _built:  # `run` alone is already attached: start again in the order of the full help
        _app.registered_commands.clear()
        _app.registered_groups.clear()
    from . import run

    if only_run:
        run.register(_app)
        _built.add("run")
        return _app
    from . import configcmd, evaluate, facility, journal, meters, profiles, shielding, status, web

    evaluate.register(_app)
    run.register(_app)
    _app.add_typer(journal.app, name="journal")
    _app.add_typer(configcmd.app, name="config")
    __import__(f"{__name__}.alarms", fromlist=["register"]).register(_app)
    status.register(_app)
    _app.add_typer(meters.app, name="meters")
    _app.add_typer(profiles.app, name="profiles")
    __import__(f"{__name__}.survey", fromlist=["register"]).register(_app)  # survey group + report
    _app.add_typer(web.app, name="web")
    _app.add_typer(shielding.app, name="shielding")
    _app.add_typer(facility.app, name="facility")
    _built.add("all")
    return _app


def __getattr__(name: str) -> typer.Typer:
    if name == "app":  # every command group, for the tests and for anyone importing the app
        return _build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Global flags a user may also give after the subcommand (`radsurvey run --log-json ...`).
_GLOBAL_FLAGS = ("--log-json", "--verbose")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move the global flags found after the subcommand to the front (up to a ``--``), where click expects them."""
    end = args.index("--") if "--" in args else len(args)
    found = [a for a in args[:end] if a in _GLOBAL_FLAGS]
    rest = [a for a in args[:end] if a not in _GLOBAL_FLAGS]
    return [*dict.fromkeys(found), *rest, *args[end:]]


def _subcommand(args: list[str]) -> str | None:
    return next((a for a in args if not a.startswith("-")), None)


def main() -> None:
    import sys

    args = hoist_global_flags(sys.argv[1:])
    if _subcommand(args) == "run":
        # structlog imports greenlet whenever it is installed (for its deprecated thread-local context, which we
        # do not use); it comes with the test tools (Playwright's), not with radsurvey: 1 MB of memory for nothing.
        sys.modules.setdefault("greenlet", None)  # type: ignore[arg-type]
    if _subcommand(args) == "run" and not sys.stdout.isatty():
        # A daemon without a terminal (systemd, a Pi) draws no live table, but structlog's console renderer
        # imports rich and pygments whenever they are installed: 4.3 MB of resident memory for nothing
        # (benchmarks/README.md, footprint). Without them it formats exceptions itself.
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
    # `radsurvey [--verbose|-v|--log-json] run ...`: the daemon needs no other command (`radsurvey --help run`
    # still lists them all).
    only_run = [a for a in args if a not in (*_GLOBAL_FLAGS, "-v")][:1] == ["run"]
    _build(only_run=only_run)(args=args, prog_name="radsurvey")


__all__ = ["app", "fail", "main", "run_command"]

if __name__ == "__main__":  # pragma: no cover
    main()
