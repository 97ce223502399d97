"""``radsurvey status``: channels, meters, alarms and sinks at a glance (from the journal)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .common import run_command


def register(app: typer.Typer) -> None:
    app.command("status")(status_command)


def gather(config: Path, journal: Path | None = None) -> dict[str, Any]:
    """Everything ``status`` shows, read from the config and (read-only) the journal."""
    from radsurvey.config import load_config
    from radsurvey.daemon import journal as jr
    from radsurvey.daemon.alarms import store
    from radsurvey.daemon.supervisor import resolve_journal_path

    cfg = load_config(config)
    path = resolve_journal_path(cfg, journal)
    out: dict[str, Any] = {"site": cfg.site.id, "journal": str(path), "running": False, "last_run": None}
    channels: dict[str, dict[str, Any]] = {
        ch.id: {"meter": ch.meter, "room_category": ch.room_category, "last": None} for ch in cfg.channels
    }
    meters: dict[str, Any] = {m.id: {"driver": m.driver, "enabled": m.enabled, "state": None} for m in cfg.meters}
    rules = [f"{ch.id}/{rule.name}" for ch in cfg.channels for rule in cfg.alarm_rules(ch)]
    out.update(channels=channels, meters=meters, alarm_rules=rules, alarms=[], sinks={}, ack_requests=[])
    out["uncommitted"] = []
    if not path.exists():
        return out
    from radsurvey.daemon.journal.queries import last_run, latest_meter_events, latest_sample, uncommitted_rows
    from radsurvey.daemon.journal.spill import read_notes

    out["running"] = store.daemon_running(path)
    with jr.reader(path) as conn:
        # Recorded in the journal at the next start; the side file's notes until then.
        recorded = uncommitted_rows(conn)
        seen = {(r["first_seq"], r["last_seq"]) for r in recorded}
        waiting = [n for n in read_notes(path) if (n.get("first_seq"), n.get("last_seq")) not in seen]
        out["uncommitted"] = recorded + [{**n, "recorded": False} for n in waiting]
        out["last_run"] = last_run(conn)
        for cid, ch in channels.items():
            sample = latest_sample(conn, cid)
            ch["last"] = (
                None if sample is None else {k: sample[k] for k in ("ts", "effective_uSv_h", "limit_uSv_h", "ratio")}
            )
        events = latest_meter_events(conn)
        for mid, m in meters.items():
            event = events.get(mid)
            m["state"] = None if event is None else {k: event[k] for k in ("ts", "state", "reason")}
        if not out["running"]:
            # What the journal last recorded is history once the daemon is gone: no meter is connected now.
            stopped = out["last_run"]["stopped_at"] if out["last_run"] else None
            for m in meters.values():
                if m["state"] is not None:
                    last = m["state"]
                    m["state"] = {
                        "state": "stopped",
                        "ts": stopped or last["ts"],
                        "reason": f"daemon not running (last {last['state']} at {last['ts']})",
                    }
        from radsurvey.daemon.sinks.status import sink_status

        out["sinks"] = sink_status(conn)
    if _journal_has_alarms(path):
        out["alarms"] = store.current(path)
        out["ack_requests"] = store.ack_requests(path)
    return out


def _journal_has_alarms(path: Path) -> bool:
    from radsurvey.daemon import journal as jr
    from radsurvey.daemon.journal.queries import has_table

    with jr.reader(path) as conn:
        return has_table(conn, "alarm_events")


def status_command(
    config: Path = typer.Option(..., "--config", "-c", help="daemon config (TOML)"),
    journal: Path | None = typer.Option(None, "--journal", "-j", help="journal file (overrides [journal].path)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Channels, meters, alarms and sinks at a glance."""
    data = run_command(lambda: gather(config, journal))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    run = data["last_run"]
    state = "running" if data["running"] else ("stopped" if run else "never started")
    since = (
        f" since {run['started_at']}"
        if run and data["running"]
        else (f", last stopped {run['stopped_at']}" if run and run["stopped_at"] else "")
    )
    console.print(f"site [bold]{data['site']}[/] · daemon {state}{since} · journal {data['journal']}")

    t = Table(title="channels")
    for col in ("channel", "meter", "category", "last sample", "E uSv/h", "limit", "ratio"):
        t.add_column(col)
    for cid, ch in data["channels"].items():
        last = ch["last"]
        if last:
            t.add_row(
                cid,
                ch["meter"],
                str(ch["room_category"]),
                last["ts"],
                f"{last['effective_uSv_h']:.4g}",
                f"{last['limit_uSv_h']:g}",
                f"{last['ratio']:.3f}",
            )
        else:
            t.add_row(cid, ch["meter"], str(ch["room_category"]), "-", "-", "-", "-")
    console.print(t)

    t = Table(title="meters")
    for col in ("meter", "driver", "state", "since", "reason"):
        t.add_column(col)
    for mid, m in data["meters"].items():
        st = m["state"] or {}
        t.add_row(
            mid,
            m["driver"],
            st.get("state", "disabled" if not m["enabled"] else "-"),
            st.get("ts", "-"),
            st.get("reason", ""),
        )
    console.print(t)

    active = [a for a in data["alarms"] if a["state"] != "normal"]
    if not data["alarm_rules"]:
        console.print("alarms: none configured")
    elif active:
        from .alarm_table import alarm_table

        console.print(alarm_table(active, "alarms not normal"))
    else:
        console.print("alarms: all normal")
    for note in data["uncommitted"]:
        where = uncommitted_fate(note)
        console.print(
            f"journal: {note['rows']} rows of run {note['run']} (seq {note['first_seq']}-{note['last_seq']}) "
            f"were not committed ({note.get('error')}); {where}",
            markup=False,
            soft_wrap=True,
        )
    for req in data["ack_requests"]:
        answer = req["result"] if req["handled_at"] else "waiting for the daemon"
        console.print(
            f"acknowledgement request {req['id']} ({req['channel']}/{req['rule'] or 'every rule not normal'} "
            f"by {req['by']}): {answer}",
            markup=False,
            soft_wrap=True,
        )
    for sink, cur in data["sinks"].items():
        console.print(
            f"sink {sink}: acknowledged seq {cur['seq']} ({cur['backlog_rows']} rows behind, lag {cur['lag_s']:g} s) "
            f"at {cur['updated_at']}; errors {cur['errors']}"
            + (f", last at {cur['last_error_at']}: {cur['last_error']}" if cur["last_error"] else "")
        )
    if not data["sinks"]:
        console.print("sinks: none have written yet")


def uncommitted_fate(note: dict[str, Any]) -> str:
    """What became of rows an earlier run could not commit, in words (``status``, ``journal stats``)."""
    if note.get("imported_at"):  # an import committed: every row of the file is in the journal
        where = f"spilled to {note['spill_file']}, imported back at {note['imported_at']}"
    elif not note.get("spill_file"):
        where = "not spilled: lost"
    else:
        where = f"spilled to {note['spill_file']}, not imported yet (radsurvey journal import-spill)"
    recorded = "recorded in the journal" if note.get("recorded", True) else "noted in the side file"
    return f"{where}; {recorded}"
