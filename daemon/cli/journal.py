"""``radsurvey journal stats|tail|export|doses``: read the journal without disturbing a running daemon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    sizes: bool = typer.Option(
        False,
        "--sizes",
        help="also each retention tier's bytes on disk (reads every page: about 30 s on a year's journal);"
        " without it they are null / '-'",
    ),
) -> None:
    """Row counts, first/last timestamps, size and pages, schema version and the last run: quick at any age.

    A journal up to 16 MiB is checked in full first; `radsurvey journal check` checks any journal in full.
    """
    from radsurvey.daemon import journal as jr

    data = run_command(lambda: jr.stats(journal_path(journal, config), sizes=sizes))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    size_mb = data["size_bytes"] / 1e6
    pages = f"{data['page_count']} pages of {data['page_size']} B, {data['free_pages']} free"
    table = Table(title=f"journal {data['path']}  ({size_mb:.2f} MB, {pages}, schema v{data['schema_version']})")
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
    from .status import uncommitted_fate

    for step in data.get("clock_steps", []):
        console.print(f"clock step: {step['step_s']:+.1f} s at {step['ts']} (run {step['run']})", markup=False)
    for note in data.get("uncommitted", []):
        console.print(
            f"uncommitted: {note['rows']} rows of run {note['run']} (seq {note['first_seq']}-{note['last_seq']}) "
            f"were not committed ({note.get('error')}); {uncommitted_fate(note)}",
            markup=False,
            soft_wrap=True,
        )
    if data.get("tiers"):
        tiers = Table(title="retention tiers")
        for col in ("tier", "rows", "size", "oldest", "newest", "age of oldest"):
            tiers.add_column(col)
        for name, t in data["tiers"].items():
            size = f"{t['bytes'] / 1e6:.2f} MB" if t["bytes"] is not None else "- (--sizes)"
            if name == "year":
                first, last, age = str(t["first_year"] or "-"), str(t["last_year"] or "-"), "kept for good"
            else:
                first, last = t["first_ts"] or "-", t["last_ts"] or "-"
                age = f"{t['oldest_age_days']:.1f} d" if t["oldest_age_days"] is not None else "-"
            tiers.add_row(name, str(t["rows"]), size, first, last, age)
        console.print(tiers)


def _when(text: str, option: str) -> str:
    from radsurvey.daemon.journal import times

    try:
        times.parse(text)
    except ValueError:
        fail(f"{option}: not an ISO-8601 date or time: {text!r} (e.g. 2026-12-01 or 2026-12-01T08:00:00Z)")
    return text


@app.command("export")
def export_command(
    start: str = typer.Option(..., "--from", help="start (ISO-8601, UTC unless it names an offset)"),
    end: str = typer.Option(..., "--to", help="end, exclusive (ISO-8601)"),
    fmt: str = typer.Option("csv", "--format", help="csv (parquet: see docs/sinks.md, Retention)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="file to write (default: standard output)"),
    tier: str | None = typer.Option(None, "--tier", help="raw, minute or hour (default: the finest that holds --from)"),
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Samples (or minute/hour aggregates) of every channel in a time range, from the finest tier that holds it."""
    import csv
    import sys

    from radsurvey.daemon import journal as jr

    if fmt != "csv":
        fail(f"--format {fmt}: only csv is supported (Parquet is left out: docs/sinks.md, Retention)")
    if tier is not None and tier not in ("raw", "minute", "hour"):
        fail(f"--tier {tier}: choose raw, minute or hour")
    _when(start, "--from")
    _when(end, "--to")
    chosen, cols, rows = run_command(lambda: jr.export_rows(journal_path(journal, config), start, end, tier=tier))
    handle = open(out, "w", newline="") if out else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(cols)
        n = 0
        for row in rows:
            writer.writerow([csv_value(v) for v in row])
            n += 1
    finally:
        if out:
            handle.close()
    typer.echo(f"{n} {chosen} rows", err=True)


# Journal values are sums and differences of binary floats (mean - background, sum / n): printed in
# full they carry noise such as 0.023999999999999994 or -2.665e-16. Nine decimal places is a
# billionth of a uGy/h, far below any meter's resolution, so rounding there loses nothing measured.
CSV_DECIMALS = 9


def csv_value(value: Any) -> Any:
    """A journal value as ``journal export`` writes it: floats without binary noise, ``0`` never ``-0``."""
    if not isinstance(value, float) or value != value or value in (float("inf"), float("-inf")):
        return value
    rounded = round(value, CSV_DECIMALS)
    if rounded == 0:
        return "0"
    return repr(rounded)


@app.command("migrate")
def migrate_command(journal: Path | None = JournalOpt, config: Path | None = ConfigOpt) -> None:
    """Upgrade the journal's schema now (the daemon does it when it starts); stop the daemon first."""
    from radsurvey.daemon import journal as jr

    path = journal_path(journal, config)

    def run() -> tuple[int, int]:
        if not path.exists():
            raise jr.JournalError("journal not found", source=str(path))
        conn = jr.connect(path)
        try:
            before = jr.schema_version(conn)
            return before, jr.migrate(conn, path)
        finally:
            conn.close()

    before, after = run_command(run)
    typer.echo(f"{path}: schema version {before} -> {after}" if before != after else f"{path}: up to date (v{after})")


@app.command("check")
def check_command(journal: Path | None = JournalOpt, config: Path | None = ConfigOpt) -> None:
    """Read every page of the journal (SQLite's quick_check; safe while the daemon runs): exit 0 ok, 2 damaged."""
    import time

    from radsurvey.daemon.journal import recovery
    from radsurvey.daemon.journal.schema import connect

    path = journal_path(journal, config)

    def run() -> float:
        t0 = time.monotonic()
        conn = connect(path, readonly=True)
        try:
            recovery.check(conn, path)
        finally:
            conn.close()
        return time.monotonic() - t0

    took_s = run_command(run)
    typer.echo(f"{path}: passes SQLite's quick_check ({took_s:.1f} s)")


@app.command("recover")
def recover_command(journal: Path | None = JournalOpt, config: Path | None = ConfigOpt) -> None:
    """Salvage a damaged journal: every row SQLite can read, same seqs and cursors; the damaged file is kept."""
    from radsurvey.daemon.journal import recovery

    path = journal_path(journal, config)

    def run() -> list[recovery.Recovered]:
        if not path.exists() and not recovery.waiting(path):
            raise recovery.JournalError("journal not found, and no damaged copy of it waits", source=str(path))
        return recovery.recover(path)

    done = run_command(run)
    if not done:
        typer.echo(f"{path}: passes SQLite's quick_check and no damaged copy waits; nothing to recover")
        return
    for item in done:
        s = item.salvage
        counts = ", ".join(f"{name} {n}" for name, n in s.rows.items() if n)
        lost = f"; {s.unreadable_rows} unreadable rows skipped" if s.unreadable_rows else ""
        if s.unreadable_tables:
            lost += f"; unreadable tables: {', '.join(s.unreadable_tables)}"
        where = "the journal now" if item.journal == path else "a journal of its own"
        kept = f"damaged file kept as {item.damaged}"
        typer.echo(f"recovered {s.total} rows into {item.journal} ({where}; {counts}){lost}; {kept}")


@app.command("doses")
def doses_command(
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """The yearly dose record of every channel (kept for good): dose, hours measured, maximum E."""
    from radsurvey.daemon.journal.queries import dose_record

    rows = run_command(lambda: dose_record(journal_path(journal, config)))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="dose record per channel and calendar year (UTC)")
    for col in ("channel", "year", "dose uSv", "hours measured", "max E uSv/h", "worst alarm"):
        table.add_column(col)
    names = {0: "normal", 1: "warning", 2: "alarm"}
    for r in rows:
        table.add_row(
            r["channel"],
            str(r["year"]),
            f"{r['dose_uSv']:.6g}",
            f"{r['hours_measured']:.2f}",
            f"{r['max_uSv_h']:.4g}",
            names.get(r["worst_alarm"], "?"),
        )
    Console().print(table)


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

    # On an 80-column terminal the timestamp must stay whole (it is what the rows are read by): it
    # never wraps, the table drops its box, and the channel name is the column that folds.
    table = Table(box=None, pad_edge=False)
    for col in ("seq", "ts", "channel", "value uGy/h", "net uGy/h", "E uSv/h", "limit", "ratio"):
        if col == "ts":
            width = max((len(r["ts"]) for r in rows), default=2)
            table.add_column(col, no_wrap=True, min_width=width)
        elif col == "channel":
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["seq"]),
            r["ts"],
            r["channel"],
            _short(r["value_uGy_h"]),
            _short(r["net_uGy_h"]),
            _short(r["effective_uSv_h"]),
            f"{r['limit_uSv_h']:g}",
            f"{r['ratio']:.3f}",
        )
    Console().print(table)


def _short(value: float) -> str:
    """Four significant figures of a value rounded as ``journal export`` rounds it (noise prints as 0)."""
    return f"{round(value, CSV_DECIMALS) + 0.0:.4g}"


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


@app.command("import-spill")
def import_spill_command(
    files: list[Path] = typer.Argument(None, help="spill files (default: this journal's in [journal] spill_dir)"),
    journal: Path | None = JournalOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Put spilled rows (disk full at stop) back into the journal under their own seqs; stop the daemon first.

    The daemon does this itself when it starts with [journal] spill_dir; this is for files moved or copied by
    hand. Rows already in the journal are skipped, so running it twice changes nothing.
    """
    from radsurvey.daemon import journal as jr
    from radsurvey.daemon.alarms.store import daemon_running
    from radsurvey.daemon.journal.uncommitted import spill_files

    path = journal_path(journal, config)
    spill_dir: Path | None = None
    if config is not None:
        from radsurvey.config import load_config

        spill_dir = load_config(config).journal.spill_dir

    def run() -> tuple[list[dict[str, Any]], dict[str, int]]:
        from radsurvey.daemon.journal.feed import sink_cursors

        if not path.exists():
            raise jr.JournalError("journal not found", source=str(path))
        if daemon_running(path):
            raise jr.JournalError(
                "the daemon is running: it imports the spill files itself at its next start; "
                "stop it first to import now",
                source=str(path),
            )
        chosen = list(files) if files else spill_files(path, spill_dir)
        for f in chosen:
            if not f.is_file():
                raise jr.JournalError("no such spill file", source=str(f))
        j = jr.Journal(path, spill_dir=spill_dir, import_files=chosen, record_run=False)
        try:
            done = j.imported
        finally:
            j.close()
        with jr.reader(path) as conn:
            cursors = sink_cursors(conn)
        return done, cursors

    if not files and spill_dir is None:
        # Nothing configured to spill into, so nothing can be waiting: not an error (issue 22).
        if as_json:
            typer.echo(json.dumps({"files": [], "sink_cursors": {}}, indent=2))
        else:
            where = "the config has no [journal] spill_dir" if config is not None else "no --config with a spill_dir"
            typer.echo(f"nothing to import: no spill files given and {where}")
        return
    done, cursors = run_command(run)
    if as_json:
        typer.echo(json.dumps({"files": done, "sink_cursors": cursors}, indent=2))
    else:
        if not done:
            typer.echo(f"nothing to import: no spill files of {path.name} in {spill_dir}")
        for d in done:
            if d["error"]:
                typer.echo(f"{d['file']}: not imported: {d['error']}")
                continue
            typer.echo(
                f"{d['file']}: {d['imported']} rows imported (seq {d['first_seq']}-{d['last_seq']}), "
                f"{d['present']} already in the journal" + (f"; renamed {d['renamed']}" if d.get("renamed") else "")
            )
            for sink, seq in cursors.items():
                if d["imported"] and seq >= d["first_seq"]:
                    typer.echo(
                        f"  sink {sink} had already acknowledged up to seq {seq}: it does not publish imported rows"
                        " below that (journal export gives them)"
                    )
    if any(d["error"] for d in done):
        raise typer.Exit(1)
