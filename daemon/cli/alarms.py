"""``radsurvey alarms list|history|ack``: alarm states from the journal, acknowledgement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .common import fail, run_command
from .journal import ConfigOpt, JournalOpt, journal_path

if TYPE_CHECKING:
    from rich.table import Table


def register(root: typer.Typer) -> None:
    """Attach the fixed-monitor commands: ``alarms ...`` and ``status``."""
    from . import status

    root.add_typer(app, name="alarms")
    status.register(root)


app = typer.Typer(help="Alarm states, history and acknowledgement (safe while the daemon runs).", no_args_is_help=True)

_STYLE = {"normal": "green", "warning": "yellow", "alarm": "bold red", "fault": "bold magenta"}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _table(rows: list[dict[str, Any]], title: str, *, with_event: bool = False) -> Table:
    from rich.table import Table

    table = Table(title=title)
    cols = ["ts" if with_event else "since", "channel", "rule", "state", "value", "level", "ack"]
    if with_event:
        cols.insert(1, "event")
    for col in cols:
        table.add_column(col)
    for r in rows:
        ack = (
            f"{r['acknowledged_by']} {r['acknowledged_at']}"
            if r["acknowledged"]
            else ("latched" if r["latched"] else "-")
        )
        cells = [
            (r["ts"] if with_event else r["since"]) or "-",
            r["channel"],
            r["rule"],
            f"[{_STYLE.get(r['state'], '')}]{r['state']}[/]",
            f"{_fmt(r['value'])} {r['unit']}",
            f"{_fmt(r['level'])} {r['unit']}",
            ack + (f" ({r['comment']})" if r.get("comment") else ""),
        ]
        if with_event:
            cells.insert(1, r["event"])
        table.add_row(*cells)
    return table


@app.command("list")
def list_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="JSON lines"),
) -> None:
    """The current state of every alarm rule (with --config also the rules still normal since the start)."""
    from radsurvey.daemon.alarms import store

    rows = run_command(lambda: store.current(journal_path(journal, config)))
    if config is not None:
        rows = _with_configured_rules(rows, config)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console

    if not rows:
        typer.echo("no alarm events yet: every rule is normal")
        return
    Console().print(_table(rows, "alarms"))


def _with_configured_rules(rows: list[dict[str, Any]], config: Path) -> list[dict[str, Any]]:
    """Add a normal row for each configured rule that has no event yet."""
    from radsurvey.config import load_config

    cfg = run_command(lambda: load_config(config))
    seen = {(r["channel"], r["rule"]) for r in rows}
    for ch in cfg.channels:
        for rule in cfg.alarm_rules(ch):
            if (ch.id, rule.name) not in seen:
                rows.append(
                    {
                        "channel": ch.id,
                        "rule": rule.name,
                        "kind": rule.kind,
                        "state": "normal",
                        "since": None,
                        "value": None,
                        "level": None,
                        "unit": "",
                        "acknowledged": False,
                        "latched": False,
                        "acknowledged_by": None,
                        "acknowledged_at": None,
                        "comment": "",
                    }
                )
    return sorted(rows, key=lambda r: (r["channel"], r["rule"]))


@app.command("history")
def history_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    since: str | None = typer.Option(
        None, "--since", help="ISO-8601 UTC time or date, e.g. 2026-03-01 or 2026-03-01T08:00Z"
    ),
    channel: str | None = typer.Option(None, "--channel", help="only this channel"),
    limit: int = typer.Option(1000, "--limit", min=1, max=1_000_000, help="at most this many (the newest)"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines"),
) -> None:
    """State changes and acknowledgements, oldest first."""
    from radsurvey.daemon.alarms import store

    since_iso = _parse_since(since) if since else None
    rows = run_command(
        lambda: store.history(journal_path(journal, config), since=since_iso, channel=channel, limit=limit)
    )
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console

    Console().print(_table(rows, "alarm history", with_event=True))


def _parse_since(text: str) -> str:
    from datetime import UTC, datetime

    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--since: not an ISO-8601 date or time: {text!r}")
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@app.command("ack")
def ack_command(
    channel: str = typer.Argument(..., help="channel id"),
    by: str = typer.Option(..., "--by", help="who acknowledges (recorded with the event)"),
    rule: str | None = typer.Option(
        None, "--rule", help="only this rule (default: every rule of the channel not normal)"
    ),
    comment: str = typer.Option("", "--comment", help="why, what was done"),
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    wait_s: float = typer.Option(5.0, "--wait", min=0, max=600, help="seconds to wait for the daemon's answer"),
) -> None:
    """Acknowledge an alarm: the running daemon applies it and records who and when."""
    from radsurvey.daemon.alarms import store

    if not by.strip():
        fail("--by: give the name of who acknowledges")
    path = journal_path(journal, config)
    request_id = run_command(
        lambda: store.request_ack(path, channel=channel, rule=rule, by=by.strip(), comment=comment)
    )
    if not run_command(lambda: store.daemon_running(path)):
        typer.echo(f"queued (request {request_id}): the daemon is not running; it applies the request when it starts")
        return
    answer = run_command(lambda: store.wait_for_ack(path, request_id, wait_s))
    if answer is None:
        typer.echo(f"queued (request {request_id}): the daemon has not answered within {wait_s:g} s")
        return
    if answer.startswith("rejected: "):
        fail(f"acknowledgement rejected: {answer.removeprefix('rejected: ')}")
    typer.echo(answer.removeprefix("accepted: "))
