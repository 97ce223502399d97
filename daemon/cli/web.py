"""``radsurvey web user add|remove|list``: the web console's local accounts."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from .common import fail, run_command

app = typer.Typer(help="The web console (docs/web.md): local accounts.", no_args_is_help=True)
user_app = typer.Typer(help="Accounts that may log in to acknowledge alarms.", no_args_is_help=True)
app.add_typer(user_app, name="user")

ConfigOpt = typer.Option(None, "--config", "-c", help="daemon config; its [web] users_file is used")
FileOpt = typer.Option(None, "--users-file", help="the accounts file (overrides the config)")


def _users(config: Path | None, users_file: Path | None):  # type: ignore[no-untyped-def]
    from radsurvey.daemon.web.auth import UsersFile

    if users_file is not None:
        return UsersFile(users_file)
    if config is None:
        fail("give --config (its [web] users_file) or --users-file")
    from radsurvey.config import load_config
    from radsurvey.daemon.web.service import users_file as resolve

    cfg = run_command(lambda: load_config(config))
    return UsersFile(resolve(cfg))


def _read_password(name: str, from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    import getpass

    first = getpass.getpass(f"Password for {name}: ")
    again = getpass.getpass("Again: ")
    if first != again:
        fail("the two passwords differ")
    return first


@user_app.command("add")
def add_command(
    name: str = typer.Argument(..., help="account name"),
    config: Path | None = ConfigOpt,
    users_file: Path | None = FileOpt,
    password_stdin: bool = typer.Option(False, "--password-stdin", help="read the password from stdin (one line)"),
) -> None:
    """Add NAME (or set a new password); the password is prompted for, or read from stdin."""
    from radsurvey.daemon.web.auth import check_username

    users = _users(config, users_file)
    run_command(lambda: check_username(name))
    password = _read_password(name, password_stdin)
    new = run_command(lambda: users.set_password(name, password))
    typer.echo(f"{'added' if new else 'password changed for'} {name} in {users.path}")


@user_app.command("remove")
def remove_command(
    name: str = typer.Argument(...), config: Path | None = ConfigOpt, users_file: Path | None = FileOpt
) -> None:
    """Remove NAME (its sessions end at the next daemon restart)."""
    users = _users(config, users_file)
    if not run_command(lambda: users.remove(name)):
        fail(f"no account {name!r} in {users.path}")
    typer.echo(f"removed {name} from {users.path}")


@user_app.command("list")
def list_command(config: Path | None = ConfigOpt, users_file: Path | None = FileOpt) -> None:
    """The account names (never the hashes)."""
    users = _users(config, users_file)
    for name in sorted(run_command(users.load)):
        typer.echo(name)
