"""Incidents opened from a latched alarm: the alarm, its samples, doses, notifications, stop-work, closure.

The record follows seed 001 Art 29 (L120-L125: examinations, notifying the
competent authority, investigation, prevention of recurrence), seed 002 L231
(estimated absorbed dose of each person present, in the personal sheet) and
L237-L239 (interrupt work until verified). Opening one puts the room on hold.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from .model import FacilityError
from .record import place_hold, today_utc
from .store import FacilityStore, now_iso

# Samples carried into the record: from this long before the alarm began to the event, at most this many.
SAMPLES_BEFORE = timedelta(minutes=10)
MAX_SAMPLES = 2000


def latched_alarm(
    journal_path: Path, channel: str, rule: str | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The newest latched alarm event of a channel (or one rule) in the daemon's journal, and its samples."""
    from ..journal import connect
    from ..journal.alarms import events as alarm_events
    from ..journal.times import parse as parse_time
    from ..journal.trends import samples_between

    conn = connect(journal_path, readonly=True)
    try:
        events = [e for e in alarm_events(conn, channel=channel, limit=500) if rule is None or e["rule"] == rule]
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for e in events:  # newest first: the first seen per rule is its current state
            latest.setdefault((e["channel"], e["rule"]), e)
        latched = [e for e in latest.values() if e["latched"]]
        if not latched:
            what = f"rule {rule!r} of channel {channel!r}" if rule else f"channel {channel!r}"
            raise FacilityError(f"no latched alarm on {what} in the journal", source=str(journal_path), field="channel")
        event = max(latched, key=lambda e: e["seq"])
        start = parse_time(event["since"]) - SAMPLES_BEFORE
        end = parse_time(event["ts"]) + timedelta(seconds=1)
        samples = []
        for r in samples_between(conn, channel, start, end):
            samples.append(
                {"seq": r["seq"], "ts": r["ts"], "effective_uSv_h": r["effective_uSv_h"], "net_uGy_h": r["net_uGy_h"]}
            )
            if len(samples) >= MAX_SAMPLES:
                break
    finally:
        conn.close()
    return event, samples


def room_of_channel(store: FacilityStore, channel: str) -> str | None:
    for room in store.all("room"):
        if channel in (room.get("monitors") or []):
            return str(room["name"])
    return None


def open_incident(
    store: FacilityStore,
    *,
    journal_path: Path,
    channel: str,
    by: str,
    rule: str | None = None,
    room: str | None = None,
    description: str = "",
) -> int:
    """Open an incident from the channel's latched alarm; the room goes on hold. Returns the incident id."""
    room = room or room_of_channel(store, channel)
    if room is None:
        raise FacilityError(f"channel {channel!r} is no room's monitor: give --room", field="room")
    store.require_room(room)
    event, samples = latched_alarm(journal_path, channel, rule)
    record = {
        "room": room,
        "channel": channel,
        "alarm": {k: event.get(k) for k in ("seq", "ts", "rule", "kind", "state", "value", "level", "unit", "since")},
        "samples": samples,
        "description": description,
        "doses": [],
        "notified": [],
        "stop_work": None,
    }
    with store.tx() as c:
        at = now_iso()
        cur = c.execute(
            "INSERT INTO incidents(room, opened_at, opened_by, record) VALUES (?, ?, ?, ?)",
            (room, at, by, json.dumps({k: v for k, v in record.items() if k != "room"}, default=str)),
        )
        incident = int(cur.lastrowid or 0)
        store.log(
            c,
            by=by,
            entity="incident",
            key=str(incident),
            action="opened",
            at=at,
            new={"room": room, "channel": channel, "alarm_seq": event.get("seq"), "samples": len(samples)},
        )
        place_hold(
            store,
            c,
            room,
            cause="incident",
            reason=f"incident {incident} (alarm {event.get('rule')} on {channel})",
            by=by,
            effective=today_utc(),
        )
    return incident


def update_incident(
    store: FacilityStore,
    incident: int,
    *,
    by: str,
    doses: list[str] = (),  # type: ignore[assignment]
    notified: list[str] = (),  # type: ignore[assignment]
    stop_work: str | None = None,
) -> dict[str, Any]:
    """Add estimated doses (``NAME=mSv``), notifications (``WHO@ISO-time``) or the stop-work decision."""
    row = store.conn.execute("SELECT record, closed_at FROM incidents WHERE id = ?", (incident,)).fetchone()
    if row is None:
        raise FacilityError(f"no incident {incident}", field="incident")
    if row["closed_at"]:
        raise FacilityError(f"incident {incident} is closed", field="incident")
    record: dict[str, Any] = json.loads(row["record"])
    added: dict[str, Any] = {}
    for text in doses:
        name, sep, value = text.partition("=")
        try:
            dose = Decimal(value.strip())
        except InvalidOperation:
            dose = Decimal(-1)
        if not sep or not name.strip() or not dose.is_finite() or dose < 0:
            raise FacilityError(f"--dose {text!r}: give NAME=mSv (a number >= 0)", field="dose")
        added.setdefault("doses", []).append({"person": name.strip(), "estimated_dose_mSv": str(dose)})
    for text in notified:
        who, sep, when = text.rpartition("@")
        try:
            at = datetime.fromisoformat(when.strip())
        except ValueError:
            at = None
        if not sep or not who.strip() or at is None:
            raise FacilityError(f"--notified {text!r}: give WHO@YYYY-MM-DDTHH:MM", field="notified")
        added.setdefault("notified", []).append({"who": who.strip(), "at": at.isoformat()})
    if stop_work is not None:
        if not stop_work.strip():
            raise FacilityError("--stop-work needs the decision in words", field="stop_work")
        added["stop_work"] = {"decision": stop_work.strip(), "by": by}
    if not added:
        raise FacilityError("nothing to add: give --dose, --notified or --stop-work")
    for key in ("doses", "notified"):
        record[key] = [*record.get(key, []), *added.get(key, [])]
    if "stop_work" in added:
        record["stop_work"] = added["stop_work"]
    with store.tx() as c:
        c.execute("UPDATE incidents SET record = ? WHERE id = ?", (json.dumps(record, default=str), incident))
        store.log(c, by=by, entity="incident", key=str(incident), action="updated", new=added)
    return record


def close_incident(store: FacilityStore, incident: int, *, by: str, closure: str) -> None:
    """Close an incident with what was found and done (Art 29(3)-(5)); the hold stays until verified."""
    row = store.conn.execute("SELECT closed_at FROM incidents WHERE id = ?", (incident,)).fetchone()
    if row is None:
        raise FacilityError(f"no incident {incident}", field="incident")
    if row["closed_at"]:
        raise FacilityError(f"incident {incident} is already closed", field="incident")
    if not closure.strip():
        raise FacilityError("say how the incident closed (--summary)", field="summary")
    with store.tx() as c:
        at = now_iso()
        c.execute(
            "UPDATE incidents SET closed_at = ?, closed_by = ?, closure = ? WHERE id = ?",
            (at, by, closure.strip(), incident),
        )
        store.log(c, by=by, entity="incident", key=str(incident), action="closed", at=at, new=closure.strip())
