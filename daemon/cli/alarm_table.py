"""The alarm table that ``alarms list|history`` and ``status`` print (shared below both)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

_STYLE = {"normal": "green", "warning": "yellow", "alarm": "bold red", "fault": "bold magenta"}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def alarm_table(rows: list[dict[str, Any]], title: str, *, with_event: bool = False) -> Table:
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
