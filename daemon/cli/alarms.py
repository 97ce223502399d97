"""``radsurvey alarms list|history|ack``: alarm states from the journal, acknowledgement."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .alarm_table import alarm_table as _table
from .common import fail, run_command
from .journal import ConfigOpt, JournalOpt, journal_path


def register(root: typer.Typer) -> None:
    """Attach the ``alarms ...`` group (``status`` registers itself, cli/__init__.py)."""
    root.add_typer(app, name="alarms")


app = typer.Typer(help="Alarm states, history and acknowledgement (safe while the daemon runs).", no_args_is_help=True)


@app.command("list")
def list_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="JSON lines"),
) -> None:
    """The current state of every alarm rule (with --config also the rules still normal since the start)."""
    from radsurvey.daemon.alarms import store

    path = journal_path(journal, config)
    if not run_command(lambda: store.ever_ran(path)):
        typer.echo(f"no alarm states: the daemon has never run on journal {path}", err=as_json)
        return
    rows = run_command(lambda: store.current(path))
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
    from radsurvey.daemon.journal import times

    try:
        return times.text(times.parse(text))
    except ValueError:
        fail(f"--since: not an ISO-8601 date or time: {text!r}")


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
    mqtt: bool = typer.Option(
        False, "--mqtt", help="publish a signed acknowledgement to the broker of --config instead of the journal queue"
    ),
    key_file: Path | None = typer.Option(
        None,
        "--key-file",
        help="with --mqtt: keys file holding the secret of --by (default [alarms.mqtt_ack] keys_file)",
    ),
) -> None:
    """Acknowledge an alarm: the running daemon applies it and records who and when."""
    from radsurvey.daemon.alarms import store

    by = by.strip()
    if not by:
        fail("--by: give the name of who acknowledges")
    path = journal_path(journal, config) if (journal is not None or config is not None) else None
    cfg = _config_for_ack(config, path)
    if cfg is not None:
        targets = store.ack_targets(cfg)
        if channel not in targets:
            with_rules = ", ".join(sorted(targets)) or "none"
            fail(f"channel {channel!r} has no alarm rules (channels with rules: {with_rules})")
        if rule is not None and rule not in targets[channel]:
            fail(f"channel {channel!r} has no rule {rule!r} (its rules: {', '.join(sorted(targets[channel]))})")
    if path is not None and path.exists() and rule is None:
        states = [r for r in run_command(lambda: store.current(path)) if r["channel"] == channel]
        if cfg is not None and all(r["state"] == "normal" for r in states):
            fail(f"nothing to acknowledge on channel {channel!r}: every rule is normal")
    if mqtt:
        _ack_over_mqtt(cfg, path, channel, rule, by, comment, key_file, wait_s)
        return
    if path is None:
        fail("give --journal PATH or --config FILE")
    request_id = run_command(lambda: store.request_ack(path, channel=channel, rule=rule, by=by, comment=comment))
    if not run_command(lambda: store.daemon_running(path)):
        typer.echo(
            f"queued (request {request_id}): the daemon is not running; it applies the request when it starts "
            "(`radsurvey status` shows its answer)"
        )
        return
    answer = run_command(lambda: store.wait_for_ack(path, request_id, wait_s))
    if answer is None:
        typer.echo(
            f"queued (request {request_id}): the daemon has not answered within {wait_s:g} s "
            "(`radsurvey status` shows its answer)"
        )
        return
    if answer.startswith("rejected: "):
        fail(f"acknowledgement rejected: {answer.removeprefix('rejected: ')}")
    typer.echo(answer.removeprefix("accepted: "))


def _config_for_ack(config: Path | None, path: Path | None) -> Any:
    """The config that says which channels and rules exist: --config, else the one of the journal's last run."""
    from radsurvey.config import load_config
    from radsurvey.daemon.alarms import store
    from radsurvey.protocols.errors import RadsurveyError

    if config is not None:
        return run_command(lambda: load_config(config))
    if path is None or not path.exists():
        return None
    try:
        last = store.last_run_config(path)
        return load_config(last) if last is not None else None
    except RadsurveyError:
        return None


def _ack_over_mqtt(
    cfg: Any,
    path: Path | None,
    channel: str,
    rule: str | None,
    by: str,
    comment: str,
    key_file: Path | None,
    wait_s: float,
) -> None:
    import asyncio

    from radsurvey.daemon.alarms import mqtt_ack, signing, store

    if cfg is None:
        fail("--mqtt needs --config (the broker, the site and the signing keys)")
    keys_path = key_file or cfg.alarms.mqtt_ack.keys_file
    if keys_path is None:
        fail("--mqtt: give --key-file or set [alarms.mqtt_ack] keys_file")
    keys = run_command(lambda: signing.load_keys(keys_path, what="--key-file" if key_file else "keys_file"))
    if by not in keys:
        fail(f"--by: {keys_path} has no key for {by!r}")
    before = store.last_ack_seq(path) if path is not None and path.exists() else None
    topic = run_command(
        lambda: asyncio.run(
            mqtt_ack.publish_signed(cfg, channel=channel, by=by, rule=rule, comment=comment, secret=keys[by])
        )
    )
    if before is None or path is None or not store.daemon_running(path):
        typer.echo(f"published a signed acknowledgement by {by} to {topic}")
        return
    event = store.wait_for_ack_event(path, before, channel, by, wait_s)
    if event is None:
        fail(
            f"published to {topic}, but the daemon recorded no acknowledgement by {by} within {wait_s:g} s "
            "(the daemon's log says why it refused it)"
        )
    typer.echo(f"acknowledged {event['rule']} on {channel} by {by}")
