"""Each (channel, rule)'s latest alarm event: the alarms' restore, the MQTT sink's seed and the aggregates'
alarm levels at open, by index searches that do not grow with the journal's age."""

from __future__ import annotations

from typing import Any

from .schema import ReadConnection
from .seek import END_SEQ


def latest_events(conn: ReadConnection, upto: int | None = None) -> list[dict[str, Any]]:
    """Every (channel, rule)'s latest ``alarm_events`` row (with seq <= ``upto``), in seq order.

    One index search per rule on ``alarm_events(channel, rule, seq)``, stepping from one (channel, rule) to the
    next, rather than a ``GROUP BY`` over the whole table.
    """
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alarm_events'").fetchone():
        return []
    top = END_SEQ if upto is None else upto
    out: list[dict[str, Any]] = []
    key = conn.execute(
        "SELECT channel, rule FROM alarm_events WHERE (channel, rule) >= ('', '') ORDER BY channel, rule LIMIT 1"
    ).fetchone()
    while key is not None:
        row = conn.execute(
            "SELECT * FROM alarm_events WHERE channel = ? AND rule = ? AND seq <= ? ORDER BY seq DESC LIMIT 1",
            (key[0], key[1], top),
        ).fetchone()
        if row is not None:
            out.append(dict(row))
        key = conn.execute(
            "SELECT channel, rule FROM alarm_events WHERE (channel, rule) > (?, ?) ORDER BY channel, rule LIMIT 1",
            (key[0], key[1]),
        ).fetchone()
    return sorted(out, key=lambda r: int(r["seq"]))
