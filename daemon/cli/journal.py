"""``radsurvey journal stats|tail``: read the journal without disturbing a running daemon."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import fail, run_command

app = typer.Typer(help="Read the journal (safe while the daemon runs).", no_args_is_help=True)

JournalOpt = typer.Option(None, "--journal", "-j", help="journal file (default: from --config)")
ConfigOpt = typer.Option(None, "--config", "-c", help="daemon config naming the journal")


def journal_path(journal: Path | None, config: Path | None) -> Path:
    if journal is not None:
        return journal
    if config is None:
        fail("give --journal PATH or --config FILE")
    from radsurvey.config import load_config
    from radsurvey.daemon.supervisor import resolve_journal_path

    return resolve_journal_path(load_config(config))


@app.command("stats")
def stats_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Row counts, first/last timestamps, size, schema version and the last run."""
    from radsurvey.daemon import journal as jr

    data = run_command(lambda: jr.stats(journal_path(journal, config)))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    size_mb = data["size_bytes"] / 1e6
    table = Table(title=f"journal {data['path']}  ({size_mb:.2f} MB, schema v{data['schema_version']})")
    for col in ("table", "rows", "first", "last", "last seq"):
        table.add_column(col)
    for name, t in data["tables"].items():
        table.add_row(name, str(t["rows"]), t["first_ts"] or "-", t["last_ts"] or "-", str(t["last_seq"] or "-"))
    console = Console()
    console.print(table)
    run = data["last_run"]
    if run:
        state = "clean" if run["clean"] else ("running or crashed" if not run["stopped_at"] else "unclean")
        console.print(
            f"runs: {data['runs']['count']} ({data['runs']['clean']} clean); last started {run['started_at']}, "
            f"stopped {run['stopped_at'] or '-'} ({state})"
        )
    for sink, cur in data["sink_cursors"].items():
        console.print(f"sink {sink}: acknowledged up to seq {cur['seq']} at {cur['updated_at']}")


@app.command("tail")
def tail_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    channel: str | None = typer.Option(None, "--channel", help="only this channel"),
    n: int = typer.Option(10, "-n", min=1, max=100_000, help="how many samples"),
    as_json: bool = typer.Option(False, "--json", help="JSON lines"),
) -> None:
    """The last N samples, oldest first."""
    from radsurvey.daemon import journal as jr

    path = journal_path(journal, config)
    rows = run_command(lambda: jr.tail(path, channel=channel, n=n))
    if channel is not None:
        _check_channel(channel, config, path, found=bool(rows))
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for col in ("seq", "ts", "channel", "value uGy/h", "net uGy/h", "E uSv/h", "limit", "ratio"):
        table.add_column(col, justify="right" if col not in ("ts", "channel") else "left")
    for r in rows:
        table.add_row(
            str(r["seq"]),
            r["ts"],
            r["channel"],
            f"{r['value_uGy_h']:.4g}",
            f"{r['net_uGy_h']:.4g}",
            f"{r['effective_uSv_h']:.4g}",
            f"{r['limit_uSv_h']:g}",
            f"{r['ratio']:.3f}",
        )
    Console().print(table)


def _check_channel(channel: str, config: Path | None, path: Path, *, found: bool) -> None:
    """An unknown ``--channel`` is an error, not an empty table: checked against the config (--config, or the one
    of the journal's last run), else against the journal's samples."""
    from radsurvey.config import load_config
    from radsurvey.daemon.alarms import store

    cfg_path = config if config is not None else run_command(lambda: store.last_run_config(path))
    if cfg_path is not None:
        known = [ch.id for ch in run_command(lambda: load_config(cfg_path)).channels]
        if channel not in known:
            fail(f"--channel: no channel {channel!r} in {cfg_path} (channels: {', '.join(known) or 'none'})")
    elif not found:
        fail(f"--channel: the journal {path} has no samples of channel {channel!r}")
