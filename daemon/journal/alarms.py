"""The alarm tables of the journal: states, history, acknowledgement requests, budget snapshots.

Used by the CLI (views and requests), the alarm service (restore, requests,
snapshots), the MQTT sink (every rule's latest event) and the web console
(history).

Reading never disturbs the running daemon (read-only connections). An
acknowledgement from the CLI is a *request*: one ``alarm_acks`` row inserted in
a short write transaction on a table only the CLI inserts into and only the
daemon updates. The daemon applies it and writes the ``alarm_events`` row
itself, because it owns the alarm state and the journal-wide seq (a second
process cannot allocate seq numbers without racing the writer).
"""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import JournalError

from . import times

# Each (channel, rule)'s latest event: in its own module so that the aggregates (below queries) use it too.
from .latest import latest_events as latest_events
from .queries import reader
from .schema import ReadConnection, schema_version
from .times import now_text

if TYPE_CHECKING:
    from .writer import Journal


def _needs_alarm_tables(conn: sqlite3.Connection, path: Path) -> None:
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alarm_events'").fetchone():
        raise JournalError(
            f"journal has no alarm tables (schema v{schema_version(conn)}); start the daemon once to migrate it",
            source=str(path),
        )


def current(path: str | Path) -> list[dict[str, Any]]:
    """The last event of every (channel, rule): the current alarm states."""
    path = Path(path)
    with reader(path) as conn:
        _needs_alarm_tables(conn, path)
        rows = latest_events(conn)
    return [_clean(r) for r in sorted(rows, key=lambda r: (r["channel"], r["rule"]))]


def history(
    path: str | Path, *, since: str | None = None, channel: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """Alarm events (oldest first) at or after ``since`` (ISO-8601 UTC)."""
    path = Path(path)
    with reader(path) as conn:
        _needs_alarm_tables(conn, path)
        newest_first = events(conn, channel=channel, start=times.parse(since) if since else None, limit=limit)
    return list(reversed(newest_first))


def _clean(row: sqlite3.Row | dict[str, Any]) -> dict[str, Any]:
    d = dict(row)
    d["acknowledged"] = bool(d["acknowledged"])
    d["latched"] = bool(d["latched"])
    return d


def request_ack(
    path: str | Path, *, channel: str, rule: str | None, by: str, comment: str = "", source: str = "cli"
) -> int:
    """Queue an acknowledgement for the daemon; returns the request id."""
    path = Path(path)
    if not path.exists():
        raise JournalError("journal not found", source=str(path))
    try:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            _needs_alarm_tables(conn, path)
            cur = conn.execute(
                "INSERT INTO alarm_acks(requested_at, channel, rule, by, comment, source) VALUES (?, ?, ?, ?, ?, ?)",
                (now_text(), channel, rule, by, comment, source),
            )
            return int(cur.lastrowid or 0)
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise JournalError(f"cannot queue the acknowledgement: {err}", source=str(path)) from None


def wait_for_ack(path: str | Path, request_id: int, timeout_s: float) -> str | None:
    """The daemon's answer to a request ("accepted: ..."/"rejected: ..."), or None if it did not answer in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        with reader(path) as conn:
            row = conn.execute(
                "SELECT result FROM alarm_acks WHERE id = ? AND handled_at IS NOT NULL", (request_id,)
            ).fetchone()
        if row is not None:
            return str(row[0])
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def daemon_running(path: str | Path) -> bool:
    """Whether the journal's last run is still going (its pid is alive and it has not stopped)."""
    import os

    with reader(path) as conn:
        run = conn.execute("SELECT pid, stopped_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if run is None or run["stopped_at"] is not None:
        return False
    try:
        os.kill(int(run["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by the service user
        return True
    return True


def last_run_config(path: str | Path) -> Path | None:
    """The config file the journal's last run was started with, if it is still there."""
    with reader(path) as conn:
        run = conn.execute("SELECT config FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    if run is None or not run["config"]:
        return None
    config = Path(run["config"])
    return config if config.is_file() else None


def ever_ran(path: str | Path) -> bool:
    """Whether a daemon has ever started on this journal (a ``runs`` row exists)."""
    path = Path(path)
    if not path.exists():
        return False
    with reader(path) as conn:
        has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
        return bool(has) and conn.execute("SELECT 1 FROM runs LIMIT 1").fetchone() is not None


def ack_requests(path: str | Path, *, limit: int = 20) -> list[dict[str, Any]]:
    """Acknowledgement requests still waiting for the daemon, and the newest ones it rejected."""
    path = Path(path)
    with reader(path) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='alarm_acks'").fetchone():
            return []
        rows = conn.execute(
            "SELECT * FROM alarm_acks WHERE handled_at IS NULL OR result LIKE 'rejected: %' ORDER BY id DESC LIMIT ?",
            (limit,),
        ).fetchall()
    return [dict(r) for r in reversed(rows)]


def last_ack_seq(path: Path) -> int:
    """The seq of the newest alarm event (0 if none)."""
    with reader(path) as conn:
        return int(conn.execute("SELECT COALESCE(MAX(seq), 0) FROM alarm_events").fetchone()[0])


def wait_for_ack_event(path: Path, after: int, channel: str, by: str, wait_s: float) -> dict[str, Any] | None:
    """The first ack event after seq ``after`` of ``channel`` by ``by``, waiting up to ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while True:
        with reader(path) as conn:
            row = conn.execute(
                "SELECT * FROM alarm_events WHERE seq > ? AND event = 'ack' AND channel = ? AND acknowledged_by = ? "
                "ORDER BY seq LIMIT 1",
                (after, channel, by),
            ).fetchone()
        if row is not None:
            return dict(row)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def pending_acks(conn: ReadConnection) -> list[dict[str, Any]]:
    """Acknowledgement requests the daemon has not handled yet, oldest first."""
    return [dict(r) for r in conn.execute("SELECT * FROM alarm_acks WHERE handled_at IS NULL ORDER BY id")]


def mark_ack_handled(journal: Journal, request_id: int, at: str, result: str) -> None:
    """Record the daemon's answer to a request (in the writer's next transaction)."""
    journal.execute_now("UPDATE alarm_acks SET handled_at = ?, result = ? WHERE id = ?", (at, result, request_id))


def save_rule_state(journal: Journal, channel: str, rule: str, at: str, state: str) -> None:
    """Store a rule's snapshot (a dose budget's integral), replacing the previous one."""
    journal.execute_now(
        "INSERT INTO alarm_rule_state(channel, rule, updated_at, state) VALUES (?, ?, ?, ?) "
        "ON CONFLICT(channel, rule) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state",
        (channel, rule, at, state),
    )


def rule_states(conn: ReadConnection) -> dict[tuple[str, str], str]:
    """(channel, rule) -> the snapshot stored by :func:`save_rule_state` (JSON text)."""
    return {(r["channel"], r["rule"]): r["state"] for r in conn.execute("SELECT * FROM alarm_rule_state")}


def events(
    conn: ReadConnection,
    *,
    channel: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """Alarm events (transitions and acknowledgements) in [start, end), newest first."""
    where, params = [], []
    if channel is not None:
        where.append("channel = ?")
        params.append(channel)
    if start is not None:
        where.append("ts >= ?")
        params.append(times.text(start))
    if end is not None:
        where.append("ts < ?")
        params.append(times.text(end))
    sql = "SELECT * FROM alarm_events" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*params, limit)).fetchall()
    return [_clean(r) for r in rows]
