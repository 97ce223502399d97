"""``radsurvey config check|show``."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import fail, run_command

app = typer.Typer(help="Validate and inspect daemon configuration files.", no_args_is_help=True)


def _load(file: Path):  # type: ignore[no-untyped-def]
    from radsurvey.daemon.configure import load_checked

    return load_checked(file)


@app.command("check")
def check_command(file: Path = typer.Argument(..., help="daemon config (TOML)")) -> None:
    """Validate FILE: every error is printed with its key path; exit 0 only when valid."""
    from radsurvey.protocols.errors import ConfigError

    try:
        cfg = _load(file)
    except ConfigError as err:
        typer.echo(f"radsurvey: error: {err}", err=True)
        raise typer.Exit(2) from None
    except Exception as err:
        fail(f"{file}: {err}")
    typer.echo(f"{file}: ok (site {cfg.site.id}, {len(cfg.meters)} meter(s), {len(cfg.channels)} channel(s))")


@app.command("show")
def show_command(file: Path = typer.Argument(..., help="daemon config (TOML)")) -> None:
    """Print the effective configuration (file + environment) as JSON, defaults filled in."""
    cfg = run_command(lambda: _load(file))
    typer.echo(cfg.model_dump_json(indent=2))
