"""Backlog, lag and errors per sink, read from the journal alone (for ``radsurvey status``)."""

from __future__ import annotations

import sqlite3
from typing import Any

from ..journal import STORED
from .base import utc_age_s
from .payloads import INFLUX_ROUTES, MQTT_ROUTES

SINK_TABLES: dict[str, tuple[str, ...]] = {"mqtt": tuple(MQTT_ROUTES), "influxdb": tuple(INFLUX_ROUTES)}


def _seq_tables(conn: sqlite3.Connection) -> set[str]:
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
    return {
        n for n in names if "seq" in {c[1] for c in conn.execute(f"PRAGMA table_info({n})")} and n != "sink_cursors"
    }


def sink_status(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
    """Per sink: acknowledged seq, rows not yet delivered, age of the oldest of them, error count and last error."""
    present = _seq_tables(conn)
    cols = {c[1] for c in conn.execute("PRAGMA table_info(sink_cursors)")}
    out: dict[str, dict[str, Any]] = {}
    for row in conn.execute("SELECT * FROM sink_cursors ORDER BY sink").fetchall():
        tables = [t for t in SINK_TABLES.get(row["sink"], tuple(present)) if t in present]
        backlog, oldest = 0, None
        for t in tables:
            n, first = conn.execute(
                f"SELECT COUNT(*), (SELECT ts FROM {t} WHERE seq > ? ORDER BY seq LIMIT 1) FROM {STORED.get(t, t)}"
                " WHERE seq > ?",
                (row["seq"], row["seq"]),
            ).fetchone()
            backlog += n
            if first is not None and (oldest is None or first < oldest):
                oldest = first
        out[row["sink"]] = {
            "seq": row["seq"],
            "backlog_rows": backlog,
            "lag_s": round(utc_age_s(oldest), 3) if oldest else 0.0,
            "oldest_pending_ts": oldest,
            "updated_at": row["updated_at"],
            "errors": row["errors"] if "errors" in cols else 0,
            "last_error": row["last_error"] if "last_error" in cols else "",
            "last_error_at": row["last_error_at"] if "last_error_at" in cols else None,
        }
    return out
