"""What an HPO does with the facility record: register, file surveys, hold and release rooms, see what is due.

Each function is one transaction on a :class:`FacilityStore` and records who did
it in the history. The rules (docs/facility.md):

* a room falls due ``control_periods.workplace_dose_rate`` months (kz-2008-303
  p.107(1): quarterly) after its last complying survey;
* a survey that does not comply, a repair of protective parts, a new apparatus or
  tube, or an incident puts the room on hold ("no operation until verified",
  seed 002 L237-L239; kz-2008-303 p.109 unplanned control);
* a hold is lifted by a complying survey dated on or after the hold's day and
  filed after it, or by an HPO with a reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import RadsurveyError

from .model import (
    Apparatus,
    FacilityError,
    FacilityFile,
    Instrument,
    ProtectiveItem,
    Room,
    parse_record,
)
from .store import ROLES, FacilityStore, now_iso, parse_day

CONCLUSIONS = ("complies", "does_not_comply", "not_valid")
HOLD_CAUSES = ("survey", "repair", "apparatus", "tube", "incident")


def today_utc() -> date:
    return datetime.now(UTC).date()


# -- register ------------------------------------------------------------------------------------


def import_file(store: FacilityStore, parsed: FacilityFile, *, by: str) -> dict[str, int]:
    """Add or change every record of a facility file in one transaction; counts of added/changed/unchanged.

    A new apparatus, or a changed tube serial, puts its room on hold (p.109; seed 002 L239).
    """
    counts = {"added": 0, "changed": 0, "unchanged": 0}
    with store.tx() as c:
        for key in ("name", "address", "department", "radiation_work_code", "protocol"):
            store.set_setting(c, key, getattr(parsed, key), by=by)
        for room in parsed.rooms:
            counts[store.put(c, "room", room, by=by)] += 1
        for app in parsed.apparatus:
            counts[_put_apparatus(store, c, app, by=by)] += 1
        for inst in parsed.instruments:
            counts[store.put(c, "instrument", inst, by=by)] += 1
        for item in parsed.equipment:
            counts[store.put(c, "equipment", item, by=by)] += 1
    return counts


def put_record(store: FacilityStore, entity: str, data: dict[str, Any], *, by: str) -> str:
    """Add or change one record from command options or the console (validated whole)."""
    models: dict[str, type[Room | Apparatus | Instrument | ProtectiveItem]] = {
        "room": Room,
        "apparatus": Apparatus,
        "instrument": Instrument,
        "equipment": ProtectiveItem,
    }
    model = models[entity]
    old = store.get(entity, str(data.get("name") or data.get("id") or ""))
    record = parse_record(model, {**(old or {}), **{k: v for k, v in data.items() if v is not None}}, what=entity)
    with store.tx() as c:
        if entity == "apparatus":
            return _put_apparatus(store, c, record, by=by)
        return store.put(c, entity, record, by=by)


def _put_apparatus(store: FacilityStore, c: Any, app: Apparatus, *, by: str) -> str:
    old = store.get("apparatus", app.id)
    result = store.put(c, "apparatus", app, by=by)
    if old is None:
        place_hold(
            store,
            c,
            app.room,
            cause="apparatus",
            reason=f"new apparatus {app.id}: no operation until verified",
            by=by,
            effective=today_utc(),
        )
    elif old.get("tube_serial") != app.tube_serial and old.get("tube_serial"):
        place_hold(
            store,
            c,
            app.room,
            cause="tube",
            reason=f"tube of {app.id} replaced ({old.get('tube_serial')} -> {app.tube_serial})",
            by=by,
            effective=today_utc(),
        )
    return result


def grant_role(store: FacilityStore, account: str, role: str, *, by: str) -> None:
    """Give an account a role; once an HPO exists, only an HPO may grant (the first HPO starts the register)."""
    if role not in ROLES:
        raise FacilityError(f"unknown role {role!r}; roles: {', '.join(ROLES)}", field="role")
    if store.has_hpo() and "hpo" not in store.roles(by):
        raise FacilityError(f"{by!r} is not an HPO of this facility: only an HPO grants roles", field="by")
    with store.tx() as c:
        if c.execute("SELECT 1 FROM roles WHERE account = ? AND role = ?", (account, role)).fetchone():
            return
        c.execute("INSERT INTO roles(account, role) VALUES (?, ?)", (account, role))
        store.log(c, by=by, entity="role", key=account, action="granted", new=role)


def revoke_role(store: FacilityStore, account: str, role: str, *, by: str) -> None:
    if "hpo" not in store.roles(by):
        raise FacilityError(f"{by!r} is not an HPO of this facility: only an HPO revokes roles", field="by")
    with store.tx() as c:
        if c.execute("DELETE FROM roles WHERE account = ? AND role = ?", (account, role)).rowcount == 0:
            raise FacilityError(f"{account!r} does not have the role {role!r}", field="role")
        store.log(c, by=by, entity="role", key=account, action="revoked", old=role)


def require_role(store: FacilityStore, account: str, *roles: str) -> None:
    if not store.roles(account) & set(roles):
        raise FacilityError(f"account {account!r} may not do this (needs role {' or '.join(roles)})", field="by")


# -- holds ---------------------------------------------------------------------------------------


def place_hold(store: FacilityStore, c: Any, room: str, *, cause: str, reason: str, by: str, effective: date) -> int:
    at = now_iso()
    cur = c.execute(
        "INSERT INTO holds(room, since, effective_date, cause, reason, placed_by) VALUES (?, ?, ?, ?, ?, ?)",
        (room, at, effective.isoformat(), cause, reason, by),
    )
    hold_id = int(cur.lastrowid or 0)
    store.log(
        c,
        by=by,
        entity="hold",
        key=str(hold_id),
        action="placed",
        at=at,
        new={"room": room, "cause": cause, "reason": reason, "effective_date": effective.isoformat()},
    )
    return hold_id


def record_repair(store: FacilityStore, room: str, *, what: str, on: str, by: str, today: date | None = None) -> int:
    """A repair or replacement of protective parts: the room is on hold until a complying survey (002 L239)."""
    store.require_room(room)
    if not what.strip():
        raise FacilityError("say what was repaired (--what)", field="what")
    day = parse_day(on, field="date", today=today or today_utc())
    with store.tx() as c:
        return place_hold(
            store, c, room, cause="repair", reason=f"repair of protective parts: {what.strip()}", by=by, effective=day
        )


def lift_hold(store: FacilityStore, room: str, *, by: str, reason: str) -> int:
    """An HPO lifts every active hold of a room, with a reason recorded; how many were lifted."""
    store.require_room(room)
    require_role(store, by, "hpo")
    if not reason.strip():
        raise FacilityError("an HPO lifts a hold with a reason (--reason)", field="reason")
    active = store.holds(active=True, room=room)
    if not active:
        raise FacilityError(f"room {room!r} is not on hold", field="room")
    with store.tx() as c:
        at = now_iso()
        for h in active:
            c.execute(
                "UPDATE holds SET lifted_at = ?, lifted_by = ?, lifted_reason = ? WHERE id = ?",
                (at, by, reason.strip(), h["id"]),
            )
            store.log(c, by=by, entity="hold", key=str(h["id"]), action="lifted", at=at, new={"reason": reason.strip()})
    return len(active)


# -- surveys -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filed:
    survey_id: str
    room: str
    conclusion: str
    survey_date: date
    held: bool
    lifted: int
    already: bool = False  # the same document was filed before: nothing changed


def survey_conclusion(doc: dict[str, Any], *, source: str) -> tuple[str, date | None]:
    """The protocol report's conclusion of a survey document and its survey date (exactly as its report says)."""
    from ..report import build_context

    ctx = build_context(doc, source=source)
    day = ctx["meta"].get("survey_date")
    if not day:
        measured_to = ctx["meta"].get("measured_to") or ""
        day = measured_to[:10] or None
    return str(ctx["conclusion"]), date.fromisoformat(day) if day else None


def file_survey(
    store: FacilityStore,
    doc: dict[str, Any],
    *,
    room: str,
    by: str,
    source: str,
    origin: str,
    apparatus: str | None = None,
    today: date | None = None,
) -> Filed:
    """File a survey document (radsurvey.survey/1) under a room: a non-complying one holds it, a complying one lifts.

    Refused with one line (and nothing stored) for an unknown room or apparatus, a
    survey of another facility or room, a survey without a date or dated in the
    future, another document under a filed survey id, or a document that does not evaluate. The same
    document filed again is no error and changes nothing (``Filed.already``).
    """
    today = today or today_utc()
    store.require_room(room)
    if doc.get("schema", "radsurvey.survey/1") != "radsurvey.survey/1":
        raise FacilityError(
            f"unsupported schema {doc.get('schema')!r}; expected 'radsurvey.survey/1'", source=source, field="schema"
        )
    from ..survey.metadata import metadata_from_document

    try:
        meta = metadata_from_document(doc, source=source)
    except RadsurveyError as err:
        raise FacilityError(str(err)) from None
    fac: dict[str, Any] = meta["facility"] if isinstance(meta.get("facility"), dict) else {}
    ours = str(store.settings().get("name") or "")
    theirs = str(fac.get("name") or "")
    if ours and theirs and theirs.strip().casefold() != ours.strip().casefold():
        raise FacilityError(
            f"survey of another facility ({theirs!r}; this record is {ours!r})",
            source=source,
            field="metadata.facility.name",
        )
    their_room = str(fac.get("room") or "")
    if their_room and their_room.strip().casefold() != room.strip().casefold():
        raise FacilityError(
            f"survey of room {their_room!r}, not {room!r}", source=source, field="metadata.facility.room"
        )
    if apparatus is not None:
        app = store.get("apparatus", apparatus)
        if app is None or app["room"] != room:
            raise FacilityError(f"no apparatus {apparatus!r} in room {room!r}", field="apparatus")
    try:
        conclusion, day = survey_conclusion(doc, source=source)
    except RadsurveyError as err:
        raise FacilityError(str(err)) from None
    if day is None:
        raise FacilityError(
            "the survey has no date (metadata.survey_date)", source=source, field="metadata.survey_date"
        )
    if day > today:
        raise FacilityError(
            f"survey date {day.isoformat()} is in the future (today is {today.isoformat()})",
            source=source,
            field="metadata.survey_date",
        )
    survey_id = str(doc.get("id") or meta.get("protocol_number") or "").strip()
    if not survey_id:
        # No id of its own: the day and the room, numbered like the survey journal's ids.
        slug = re.sub(r"[^A-Za-z0-9]+", "-", room).strip("-") or "room"
        n = 1
        while store.survey_document(f"{day.strftime('%Y%m%d')}-{slug}-{n:02d}") is not None:
            n += 1
        survey_id = f"{day.strftime('%Y%m%d')}-{slug}-{n:02d}"

    with store.tx() as c:
        stored = c.execute("SELECT room, document FROM surveys WHERE id = ?", (survey_id,)).fetchone()
        if stored is not None:
            # The same document sent again (a laptop retrying after a lost answer) changes nothing and is no
            # error: filing is idempotent by survey id. Another document under a filed id is refused.
            again = json.loads(json.dumps({**doc, "id": survey_id}, default=str))
            if stored["room"] == room and json.loads(stored["document"]) == again:
                return Filed(survey_id, room, conclusion, day, held=False, lifted=0, already=True)
            raise FacilityError(
                f"survey {survey_id!r} is already filed with a different document or room", source=source, field="id"
            )
        at = now_iso()
        c.execute(
            "INSERT INTO surveys(id, room, apparatus, survey_date, conclusion, filed_at, filed_by, source, document)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                survey_id,
                room,
                apparatus,
                day.isoformat(),
                conclusion,
                at,
                by,
                origin,
                json.dumps({**doc, "id": survey_id}, default=str),
            ),
        )
        store.log(
            c,
            by=by,
            entity="survey",
            key=survey_id,
            action="filed",
            at=at,
            new={
                "room": room,
                "apparatus": apparatus,
                "survey_date": day.isoformat(),
                "conclusion": conclusion,
                "origin": origin,
            },
        )
        held = False
        lifted = 0
        if conclusion == "does_not_comply":
            place_hold(
                store, c, room, cause="survey", reason=f"survey {survey_id} does not comply", by=by, effective=day
            )
            held = True
        elif conclusion == "complies":
            for h in c.execute(
                "SELECT id, since, effective_date FROM holds WHERE room = ? AND lifted_at IS NULL", (room,)
            ).fetchall():
                if day.isoformat() >= h["effective_date"] and at > h["since"]:
                    c.execute(
                        "UPDATE holds SET lifted_at = ?, lifted_by = ?, lifted_reason = ?, lifted_by_survey = ?"
                        " WHERE id = ?",
                        (at, by, f"complying survey {survey_id}", survey_id, h["id"]),
                    )
                    store.log(
                        c, by=by, entity="hold", key=str(h["id"]), action="lifted", at=at, new={"survey": survey_id}
                    )
                    lifted += 1
    return Filed(survey_id, room, conclusion, day, held, lifted)


def read_survey(path: Path) -> dict[str, Any]:
    from ..survey.files import read_survey_file

    try:
        return read_survey_file(path)
    except RadsurveyError as err:
        raise FacilityError(err.message, source=err.source, field=err.field) from None


# -- what is due ---------------------------------------------------------------------------------


def room_period_months(store: FacilityStore) -> int | None:
    """Months between room surveys: the facility's protocol's ``workplace_dose_rate`` (p.107(1))."""
    from radsurvey.protocols.profiles import find_profile

    protocol = str(store.settings().get("protocol") or "kz-2008-303")
    try:
        period = find_profile(protocol).control_period("workplace_dose_rate")
    except RadsurveyError as err:
        raise FacilityError(err.message, field="protocol") from None
    return period.months if period is not None else None


def due(store: FacilityStore, *, today: date | None = None) -> list[dict[str, Any]]:
    """One object per room: the ``facility due --format json`` contract (README, docs/facility.md)."""
    from radsurvey.protocols.periods import next_due, overdue

    today = today or today_utc()
    months = room_period_months(store)
    out = []
    for room in store.all("room"):
        surveys = store.surveys(room["name"])
        last = surveys[-1] if surveys else None
        complying = [s for s in surveys if s["conclusion"] == "complies"]
        last_ok = date.fromisoformat(complying[-1]["survey_date"]) if complying else None
        due_day = next_due(last_ok, months)
        holds = store.holds(active=True, room=room["name"])
        hold = {"since": holds[0]["since"], "reason": "; ".join(h["reason"] for h in holds)} if holds else None
        out.append(
            {
                "room": room["name"],
                "last_survey": last["id"] if last else None,
                "last_verdict": last["conclusion"] if last else None,
                "last_survey_date": last["survey_date"] if last else None,
                "next_due": due_day.isoformat() if due_day else None,
                "hold": hold,
                # A room with no complying survey on record has never been shown to be verified: due now.
                "overdue": overdue(due_day, today) if due_day is not None else True,
                "monitors": list(room.get("monitors") or []),
            }
        )
    return out


def equipment_due(store: FacilityStore, *, today: date | None = None) -> list[dict[str, Any]]:
    """Each protective item: last inspection, its result, next due (the shortest period of the profiles), overdue."""
    from radsurvey.protocols.periods import next_due, overdue

    today = today or today_utc()
    months, source = inspection_period(store)
    out = []
    for item in store.all("equipment"):
        done = store.inspections(item["id"])
        last = done[-1] if done else None
        due_day = next_due(date.fromisoformat(last["inspected_on"]), months) if last else None
        out.append(
            {
                "item": item["id"],
                "kind": item["kind"],
                "room": item.get("room"),
                "last_inspection": last["inspected_on"] if last else None,
                "last_result": last["result"] if last else None,
                "next_due": due_day.isoformat() if due_day else None,
                "overdue": overdue(due_day, today) if due_day is not None else True,
                "period_months": months,
                "period_source": source,
            }
        )
    return out


INSPECTION_PROFILES = ("ir-1973-limits", "kz-2008-303")


def inspection_period(store: FacilityStore) -> tuple[int, str]:
    """The shortest ``protective_equipment`` period among the facility's protocol and ir-1973-limits.

    radsurvey decision: where two profiles give periods (Art 12: 3 months; p.107(2):
    2 years), the shorter one applies, so the record satisfies both.
    """
    from radsurvey.protocols.profiles import find_profile

    protocol = str(store.settings().get("protocol") or "kz-2008-303")
    found: list[tuple[int, str]] = []
    for ref in dict.fromkeys((protocol, *INSPECTION_PROFILES)):
        try:
            period = find_profile(ref).control_period("protective_equipment")
        except RadsurveyError:
            continue
        if period is not None and period.months is not None:
            found.append((period.months, f"{ref}: {period.source}"))
    if not found:
        raise FacilityError("no profile gives a protective_equipment period", field="protocol")
    return min(found)


def record_inspection(
    store: FacilityStore,
    item: str,
    *,
    on: str,
    result: str,
    by: str,
    note: str = "",
    lead_equivalent_mm: float | None = None,
    today: date | None = None,
) -> int:
    """One inspection of a protective item in the logbook (seed 001 Art 12(c), L68)."""
    if store.get("equipment", item) is None:
        known = ", ".join(e["id"] for e in store.all("equipment")) or "none registered"
        raise FacilityError(f"unknown protective item {item!r} (items: {known})", field="item")
    if result not in ("pass", "fail"):
        raise FacilityError(f"result {result!r}: use pass or fail", field="result")
    if lead_equivalent_mm is not None and not 0 < lead_equivalent_mm <= 10:
        raise FacilityError(f"lead equivalent {lead_equivalent_mm} mm is outside (0, 10]", field="lead_equivalent_mm")
    day = parse_day(on, field="date", today=today or today_utc())
    minimum = None
    app10 = (store.get("equipment", item) or {}).get("app10")
    if app10 and lead_equivalent_mm is not None:
        from .model import app10_check, app10_shortfall

        check = app10_check(app10, lead_equivalent_mm)
        minimum = {"minimum_lead_mm": float(check.minimum_lead_mm), "source": check.item.source}
        if result == "pass" and not check.sufficient:
            raise FacilityError(app10_shortfall(item, check) + ": record --result fail", field="lead_equivalent_mm")
    with store.tx() as c:
        at = now_iso()
        cur = c.execute(
            "INSERT INTO inspections(item, inspected_on, result, by, note, lead_equivalent_mm, recorded_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (item, day.isoformat(), result, by, note, lead_equivalent_mm, at),
        )
        store.log(
            c,
            by=by,
            entity="inspection",
            key=item,
            action="recorded",
            at=at,
            new={
                "date": day.isoformat(),
                "result": result,
                "lead_equivalent_mm": lead_equivalent_mm,
                "note": note,
                "app10": minimum,
            },
        )
        return int(cur.lastrowid or 0)


def room_alarms(store: FacilityStore, *, today: date | None = None) -> dict[str, dict[str, Any]]:
    """monitor channel -> what its room's equipment alarms show: ``hold`` and ``overdue`` (surveys or items)."""
    rooms = due(store, today=today)
    items = equipment_due(store, today=today)
    out: dict[str, dict[str, Any]] = {}
    for r in rooms:
        late_items = [i["item"] for i in items if i["room"] == r["room"] and i["overdue"]]
        for channel in r["monitors"]:
            out[channel] = {
                "room": r["room"],
                "hold": r["hold"],
                "overdue": bool(r["overdue"] or late_items),
                "overdue_items": late_items,
                "next_due": r["next_due"],
            }
    return out
