"""``radsurvey facility ...``: the facility's radiation-protection record (docs/facility.md).

Every command that changes the record names who does it (``--by``, default the
login name) and is one transaction: a refused command prints one line, exits 2
and changes nothing.
"""

from __future__ import annotations

import enum
import getpass
import json
import os
from pathlib import Path
from typing import Any

import typer

from .common import fail, run_command

app = typer.Typer(
    help="The facility record: rooms, apparatus, instruments, surveys, holds, incidents, doses.", no_args_is_help=True
)
room_app = typer.Typer(help="Rooms of the facility.", no_args_is_help=True)
apparatus_app = typer.Typer(help="X-ray apparatus in the rooms.", no_args_is_help=True)
instrument_app = typer.Typer(help="Measuring instruments and their verification.", no_args_is_help=True)
equipment_app = typer.Typer(
    help="Protective equipment (aprons, collars, screens) and its inspections.", no_args_is_help=True
)
hold_app = typer.Typer(help="Rooms on hold: no operation until verified.", no_args_is_help=True)
incident_app = typer.Typer(help="Incidents opened from latched alarms.", no_args_is_help=True)
dosimetry_app = typer.Typer(help="Personal dosimetry register (stays on this machine).", no_args_is_help=True)
role_app = typer.Typer(help="Who may file surveys (surveyor) and lift holds (hpo).", no_args_is_help=True)
for sub, name in (
    (room_app, "room"),
    (apparatus_app, "apparatus"),
    (instrument_app, "instrument"),
    (equipment_app, "equipment"),
    (hold_app, "hold"),
    (incident_app, "incident"),
    (dosimetry_app, "dosimetry"),
    (role_app, "role"),
):
    app.add_typer(sub, name=name)

DbOpt = typer.Option(None, "--db", envvar="RADSURVEY_FACILITY", help="facility record (default: from --config)")
ConfigOpt = typer.Option(None, "--config", "-c", help="daemon config: its [facility] path, else beside the journal")
ByOpt = typer.Option(None, "--by", help="who does this (recorded in the history; default the login name)")


class Format(enum.StrEnum):
    table = "table"
    json = "json"


FormatOpt = typer.Option(Format.table, "--format", help="lines for a person, or JSON")


def facility_path(db: Path | None, config: Path | None) -> Path:
    """``--db``, else the config's [facility] path (default beside its journal), else the user's data dir."""
    if db is not None:
        return db
    if config is not None:
        from radsurvey.config import load_config
        from radsurvey.config.schema import FacilityConfig
        from radsurvey.daemon.supervisor import resolve_journal_path

        cfg = run_command(lambda: load_config(config))
        path: Path = (cfg.facility or FacilityConfig()).resolved_path(resolve_journal_path(cfg))
        return path
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "radsurvey" / "facility.sqlite"


def _store(db: Path | None, config: Path | None, *, readonly: bool = False) -> Any:
    from radsurvey.daemon.facility.store import FacilityStore

    path = facility_path(db, config)
    return run_command(lambda: FacilityStore(path, readonly=readonly))


def _by(by: str | None) -> str:
    who = (by or "").strip() or getpass.getuser()
    return who


def _emit(data: Any, output: Format, lines: list[str]) -> None:
    if output is Format.json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
    else:
        for line in lines:
            typer.echo(line)


# -- register ----------------------------------------------------------------------------------


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="facility TOML file (schema radsurvey.facility/1)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add or change rooms, apparatus, instruments and protective equipment from a facility file (all or nothing)."""
    from radsurvey.daemon.facility.model import read_facility_file
    from radsurvey.daemon.facility.record import import_file

    parsed = run_command(lambda: read_facility_file(file))
    with _store(db, config) as store:
        counts = run_command(lambda: import_file(store, parsed, by=_by(by)))
    typer.echo(f"{file}: {counts['added']} added, {counts['changed']} changed, {counts['unchanged']} unchanged")


def _put(entity: str, data: dict[str, Any], db: Path | None, config: Path | None, by: str | None) -> None:
    from radsurvey.daemon.facility.record import put_record

    with _store(db, config) as store:
        result = run_command(lambda: put_record(store, entity, data, by=_by(by)))
    typer.echo(f"{entity} {data.get('name') or data.get('id')}: {result}")


@room_app.command("add")
def room_add(
    name: str = typer.Argument(...),
    floor: str | None = typer.Option(None, "--floor"),
    purpose: str | None = typer.Option(None, "--purpose"),
    monitor: list[str] = typer.Option([], "--monitor", help="channel of this room's fixed monitor (repeat)"),
    adjacent: list[str] = typer.Option([], "--adjacent", help="SPACE=CATEGORY of an adjacent space (repeat)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add a room or change it (only the options given change)."""
    spaces = []
    for text in adjacent:
        space, sep, category = text.rpartition("=")
        if not sep or not category.strip().isdigit():
            fail(f"--adjacent {text!r}: give SPACE=CATEGORY (category a number of App. 14 Table 2)")
        spaces.append({"space": space, "category": int(category)})
    _put(
        "room",
        {"name": name, "floor": floor, "purpose": purpose, "monitors": monitor or None, "adjacent": spaces or None},
        db,
        config,
        by,
    )


@apparatus_app.command("add")
def apparatus_add(
    id: str = typer.Argument(..., help="the apparatus's id in this register"),
    room: str | None = typer.Option(None, "--room"),
    table1: str | None = typer.Option(None, "--table1", help="App. 14 Table 1 key, e.g. radiography"),
    maker: str | None = typer.Option(None, "--maker"),
    model: str | None = typer.Option(None, "--model"),
    serial: str | None = typer.Option(None, "--serial"),
    tube_serial: str | None = typer.Option(None, "--tube-serial", help="a new tube serial puts the room on hold"),
    sanitary_conclusion: str | None = typer.Option(None, "--sanitary-conclusion", help="or licence number"),
    gen_number: str | None = typer.Option(None, "--gen-number"),
    radiation_work_code: str | None = typer.Option(None, "--radiation-work-code"),
    device_status: str | None = typer.Option(None, "--device-status"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add an apparatus (its room goes on hold until verified) or change it."""
    if table1 is not None:
        from radsurvey.protocols.profiles import get_profile

        keys = [w.key for w in get_profile("kz-2008-303").workloads]
        if table1 not in keys:
            fail(f"--table1 {table1!r}: not a Table 1 key ({', '.join(keys)})")
    _put(
        "apparatus",
        {
            "id": id,
            "room": room,
            "table1": table1,
            "maker": maker,
            "model": model,
            "serial": serial,
            "tube_serial": tube_serial,
            "sanitary_conclusion": sanitary_conclusion,
            "gen_number": gen_number,
            "radiation_work_code": radiation_work_code,
            "device_status": device_status,
        },
        db,
        config,
        by,
    )


@instrument_app.command("add")
def instrument_add(
    id: str = typer.Argument(...),
    maker: str | None = typer.Option(None, "--maker"),
    model: str | None = typer.Option(None, "--model"),
    serial: str | None = typer.Option(None, "--serial"),
    driver: str | None = typer.Option(None, "--driver", help="driver family that reads it (gmc, radpro, ...)"),
    certificate: str | None = typer.Option(None, "--certificate", help="verification certificate number"),
    expires: str | None = typer.Option(None, "--expires", help="certificate expiry date (YYYY-MM-DD)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add a measuring instrument or change it."""
    _put(
        "instrument",
        {
            "id": id,
            "maker": maker,
            "model": model,
            "serial": serial,
            "driver": driver,
            "certificate_number": certificate,
            "certificate_expires": expires,
        },
        db,
        config,
        by,
    )


@equipment_app.command("add")
def equipment_add(
    id: str = typer.Argument(...),
    kind: str | None = typer.Option(None, "--kind", help="apron, collar, screen, gloves, ..."),
    room: str | None = typer.Option(None, "--room"),
    lead_mm: float | None = typer.Option(None, "--lead-mm", help="lead equivalent, mm Pb"),
    app10: str | None = typer.Option(None, "--app10", help="its kz-2008-303 App. 10 row, e.g. apron_one_sided_heavy"),
    description: str | None = typer.Option(None, "--description"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add a protective item or change it."""
    _put(
        "equipment",
        {
            "id": id,
            "kind": kind,
            "room": room,
            "lead_equivalent_mm": lead_mm,
            "app10": app10,
            "description": description,
        },
        db,
        config,
        by,
    )


@equipment_app.command("inspect")
def equipment_inspect(
    item: str = typer.Argument(...),
    on: str = typer.Option(..., "--date", help="inspection date (YYYY-MM-DD)"),
    result: str = typer.Option(..., "--result", help="pass or fail"),
    lead_mm: float | None = typer.Option(None, "--lead-mm", help="lead equivalent found, mm Pb"),
    note: str = typer.Option("", "--note"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Record an inspection in the logbook (seed 001 Art 12: at least every 3 months)."""
    from radsurvey.daemon.facility.record import record_inspection

    with _store(db, config) as store:
        run_command(
            lambda: record_inspection(
                store, item, on=on, result=result, by=_by(by), note=note, lead_equivalent_mm=lead_mm
            )
        )
    typer.echo(f"inspection of {item} on {on}: {result}")


@equipment_app.command("due")
def equipment_due_command(db: Path | None = DbOpt, config: Path | None = ConfigOpt, output: Format = FormatOpt) -> None:
    """Each protective item: last inspection, result, next due, overdue."""
    from radsurvey.daemon.facility.record import equipment_due

    with _store(db, config, readonly=True) as store:
        rows = run_command(lambda: equipment_due(store))
    _emit(
        rows,
        output,
        [
            f"{r['item']}  {r['kind']}  last {r['last_inspection'] or '-'} {r['last_result'] or ''}"
            f"  next {r['next_due'] or 'now'}{'  OVERDUE' if r['overdue'] else ''}"
            for r in rows
        ],
    )


@app.command("show")
def show_command(db: Path | None = DbOpt, config: Path | None = ConfigOpt, output: Format = FormatOpt) -> None:
    """The register: facility, rooms, apparatus, instruments (with what their drivers say), protective equipment."""
    from radsurvey.daemon.facility.views import register

    with _store(db, config, readonly=True) as store:
        data = run_command(lambda: register(store))
    lines = [f"facility: {data['facility'].get('name') or '-'}"]
    for r in data["rooms"]:
        lines.append(f"room {r['name']}  floor {r.get('floor') or '-'}  monitors {', '.join(r['monitors']) or '-'}")
    for a in data["apparatus"]:
        lines.append(
            f"apparatus {a['id']}  room {a['room']}  {a['table1']}  {a['maker']} {a['model']}"
            f"  serial {a['serial'] or '-'}  tube {a['tube_serial'] or '-'}"
        )
    for i in data["instruments"]:
        lines.append(
            f"instrument {i['id']}  {i['maker']} {i['model']}  certificate {i['certificate_number'] or '-'}"
            f" until {i['certificate_expires'] or '-'}{'  EXPIRED' if i['expired'] else ''}"
        )
    for e in data["equipment"]:
        lines.append(f"equipment {e['id']}  {e['kind']}  room {e.get('room') or '-'}")
    _emit(data, output, lines)


@app.command("history")
def history_command(
    entity: str | None = typer.Option(None, "--entity"),
    key: str | None = typer.Option(None, "--key"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    output: Format = FormatOpt,
) -> None:
    """Every change to the record (who, when, what), oldest first; never rewritten."""
    with _store(db, config, readonly=True) as store:
        rows = store.history(entity=entity, key=key)
    _emit(
        rows, output, [f"{r['at']}  {r['by']}  {r['entity']} {r['key']} {r['action']}  {r['new'] or ''}" for r in rows]
    )


# -- surveys, due, holds ---------------------------------------------------------------------


@app.command("due")
def due_command(db: Path | None = DbOpt, config: Path | None = ConfigOpt, output: Format = FormatOpt) -> None:
    """Per room: last survey and verdict, next survey due (p.107), hold, overdue."""
    from radsurvey.daemon.facility.record import due

    with _store(db, config, readonly=True) as store:
        rows = run_command(lambda: due(store))
    lines = []
    for r in rows:
        state = "ON HOLD: " + r["hold"]["reason"] if r["hold"] else ("OVERDUE" if r["overdue"] else "ok")
        lines.append(
            f"{r['room']}  last {r['last_survey'] or '-'} ({r['last_verdict'] or '-'})"
            f"  next due {r['next_due'] or 'now'}  {state}"
        )
    _emit(rows, output, lines)


def _filed_line(filed: Any) -> str:
    if filed.already:
        return f"{filed.survey_id} is already filed under {filed.room} with this document: nothing changed"
    extra = " - room on hold" if filed.held else (f" - {filed.lifted} hold(s) lifted" if filed.lifted else "")
    return f"filed {filed.survey_id} under {filed.room}: {filed.conclusion} ({filed.survey_date}){extra}"


@app.command("import-survey")
def import_survey_command(
    file: Path = typer.Argument(..., help="survey file (radsurvey.survey/1, JSON or TOML)"),
    room: str = typer.Option(..., "--room"),
    apparatus: str | None = typer.Option(None, "--apparatus", help="the apparatus surveyed (its id in the register)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """File a survey document under a room (a non-complying one holds the room, a complying one lifts holds)."""
    from radsurvey.daemon.facility.record import file_survey, read_survey

    doc = run_command(lambda: read_survey(file))
    with _store(db, config) as store:
        filed = run_command(
            lambda: file_survey(store, doc, room=room, by=_by(by), source=str(file), origin="file", apparatus=apparatus)
        )
    typer.echo(_filed_line(filed))


@app.command("file-survey")
def file_survey_command(
    survey: str = typer.Argument(..., help="survey id in the survey journal"),
    room: str = typer.Option(..., "--room"),
    apparatus: str | None = typer.Option(None, "--apparatus"),
    journal: Path | None = typer.Option(
        None,
        "--journal",
        "-j",
        envvar="RADSURVEY_SURVEY_JOURNAL",
        help="survey journal (default ~/.local/share/radsurvey/surveys.sqlite)",
    ),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """File a survey captured on this machine (radsurvey survey) under a room."""
    from radsurvey.daemon.facility.record import file_survey
    from radsurvey.daemon.survey.store import SurveyStore, default_journal_path

    path = default_journal_path(journal)
    if not path.exists():
        fail(f"{path}: no survey journal here")

    def read() -> dict[str, Any]:
        with SurveyStore(path) as surveys:
            session = surveys.get(survey)
            if session.status != "finished":
                fail(f"survey {survey} is not finished (radsurvey survey resume {survey})")
            doc: dict[str, Any] = session.document()
            return doc

    doc = run_command(read)
    with _store(db, config) as store:
        filed = run_command(
            lambda: file_survey(
                store, doc, room=room, by=_by(by), source=f"survey {survey}", origin="journal", apparatus=apparatus
            )
        )
    typer.echo(_filed_line(filed))


@app.command("surveys")
def surveys_command(
    room: str | None = typer.Option(None, "--room"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    output: Format = FormatOpt,
) -> None:
    """Every filed survey: room, date, conclusion, who filed it and from where."""
    with _store(db, config, readonly=True) as store:
        rows = store.surveys(room)
    _emit(
        rows,
        output,
        [
            f"{r['id']}  {r['room']}  {r['survey_date']}  {r['conclusion']}  filed {r['filed_at']}"
            f" by {r['filed_by']} ({r['source']})"
            for r in rows
        ],
    )


@app.command("repair")
def repair_command(
    room: str = typer.Argument(...),
    what: str = typer.Option(..., "--what", help="what was repaired or replaced"),
    on: str = typer.Option(..., "--date", help="date of the repair (YYYY-MM-DD)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Record a repair of protective parts: the room is on hold until a complying survey (seed 002 L239)."""
    from radsurvey.daemon.facility.record import record_repair

    with _store(db, config) as store:
        run_command(lambda: record_repair(store, room, what=what, on=on, by=_by(by)))
    typer.echo(f"{room}: on hold until a complying survey")


@hold_app.command("list")
def hold_list(
    all_: bool = typer.Option(False, "--all", help="lifted holds too"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    output: Format = FormatOpt,
) -> None:
    """Rooms on hold (and, with --all, how each hold was lifted)."""
    with _store(db, config, readonly=True) as store:
        rows = store.holds(active=None if all_ else True)
    _emit(
        rows,
        output,
        [
            f"{r['room']}  since {r['since']}  {r['reason']}"
            + (f"  lifted {r['lifted_at']} by {r['lifted_by']}: {r['lifted_reason']}" if r["lifted_at"] else "")
            for r in rows
        ],
    )


@hold_app.command("lift")
def hold_lift(
    room: str = typer.Argument(...),
    reason: str = typer.Option(..., "--reason", help="why the room may operate (recorded)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """An HPO lifts a room's holds without a survey, with a reason."""
    from radsurvey.daemon.facility.record import lift_hold

    with _store(db, config) as store:
        n = run_command(lambda: lift_hold(store, room, by=_by(by), reason=reason))
    typer.echo(f"{room}: {n} hold(s) lifted")


# -- incidents -------------------------------------------------------------------------------


@incident_app.command("open")
def incident_open(
    channel: str = typer.Option(..., "--channel", help="the channel whose latched alarm this is"),
    rule: str | None = typer.Option(None, "--rule"),
    room: str | None = typer.Option(None, "--room", help="default: the room this channel monitors"),
    description: str = typer.Option("", "--description"),
    journal: Path | None = typer.Option(None, "--journal", "-j", help="daemon journal (default: from --config)"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Open an incident from a latched alarm (its samples kept); the room goes on hold."""
    from radsurvey.daemon.facility.incidents import open_incident

    from .journal import journal_path

    jpath = journal_path(journal, config)
    with _store(db, config) as store:
        n = run_command(
            lambda: open_incident(
                store, journal_path=jpath, channel=channel, by=_by(by), rule=rule, room=room, description=description
            )
        )
    typer.echo(f"incident {n} opened; its room is on hold")


@incident_app.command("update")
def incident_update(
    incident: int = typer.Argument(...),
    dose: list[str] = typer.Option([], "--dose", help="NAME=mSv: estimated dose of a person present (repeat)"),
    notified: list[str] = typer.Option([], "--notified", help="WHO@YYYY-MM-DDTHH:MM (repeat)"),
    stop_work: str | None = typer.Option(None, "--stop-work", help="the stop-work decision, in words"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Add estimated doses, notifications or the stop-work decision to an incident."""
    from radsurvey.daemon.facility.incidents import update_incident

    with _store(db, config) as store:
        run_command(
            lambda: update_incident(store, incident, by=_by(by), doses=dose, notified=notified, stop_work=stop_work)
        )
    typer.echo(f"incident {incident} updated")


@incident_app.command("close")
def incident_close(
    incident: int = typer.Argument(...),
    summary: str = typer.Option(..., "--summary", help="what was found and done"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Close an incident (the room stays on hold until verified)."""
    from radsurvey.daemon.facility.incidents import close_incident

    with _store(db, config) as store:
        run_command(lambda: close_incident(store, incident, by=_by(by), closure=summary))
    typer.echo(f"incident {incident} closed")


@incident_app.command("list")
def incident_list(db: Path | None = DbOpt, config: Path | None = ConfigOpt, output: Format = FormatOpt) -> None:
    """Every incident, open and closed."""
    with _store(db, config, readonly=True) as store:
        rows = store.incidents()
    _emit(
        rows,
        output,
        [
            f"{r['id']}  {r['room']}  opened {r['opened_at']} by {r['opened_by']}"
            f"  alarm {r['alarm'].get('rule')}  {'closed ' + r['closed_at'] if r['closed_at'] else 'OPEN'}"
            for r in rows
        ],
    )


# -- dosimetry ---------------------------------------------------------------------------------


@dosimetry_app.command("import")
def dosimetry_import(
    file: Path = typer.Argument(..., help="the dosimetry service's CSV (header row)"),
    column: list[str] = typer.Option([], "--column", help="FIELD=HEADER: the service's name of a column (repeat)"),
    unit: str = typer.Option("mSv", "--unit", help="unit of the dose column: mSv or uSv"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Import a dosimetry service's results (all rows or none)."""
    from radsurvey.daemon.facility.dosimetry import column_map, import_csv

    mapping = run_command(lambda: column_map(column))
    with _store(db, config) as store:
        counts = run_command(lambda: import_csv(store, file, by=_by(by), mapping=mapping, unit=unit))
    typer.echo(f"{file}: {counts['added']} records added, {counts['skipped']} already held")


@dosimetry_app.command("flags")
def dosimetry_flags(
    limit: str = typer.Option("ir-1973-limits/whole_body_year", "--limit", help="PROFILE/KEY of a dose limit"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    output: Format = FormatOpt,
) -> None:
    """Sum per worker per period against a limit: above 10 % (medical examination, 001 Art 14) and above it."""
    from radsurvey.daemon.facility.dosimetry import flags

    with _store(db, config, readonly=True) as store:
        data = run_command(lambda: flags(store, limit))
    lines = [
        f"limit {data['limit']['ref']}: {data['limit']['mSv']} mSv per {data['limit']['period']}"
        f" ({data['limit']['source']})"
    ]
    lines += [
        f"{r['worker']}  {r['period_start']}..{r['period_end']}  {r['dose_mSv']} mSv"
        f"  {r['percent_of_limit']} %  {(r['flag'] or '').upper().replace('_', ' ')}"
        for r in data["rows"]
    ]
    _emit(data, output, lines)


@dosimetry_app.command("on")
def dosimetry_on(db: Path | None = DbOpt, config: Path | None = ConfigOpt, by: str | None = ByOpt) -> None:
    """Switch the dosimetry register on."""
    from radsurvey.daemon.facility.dosimetry import set_enabled

    with _store(db, config) as store:
        run_command(lambda: set_enabled(store, True, by=_by(by)))
    typer.echo("dosimetry register on")


@dosimetry_app.command("off")
def dosimetry_off(db: Path | None = DbOpt, config: Path | None = ConfigOpt, by: str | None = ByOpt) -> None:
    """Switch the dosimetry register off: imports and reports are refused (records already held stay)."""
    from radsurvey.daemon.facility.dosimetry import set_enabled

    with _store(db, config) as store:
        run_command(lambda: set_enabled(store, False, by=_by(by)))
    typer.echo("dosimetry register off")


# -- roles, export -------------------------------------------------------------------------------


@role_app.command("grant")
def role_grant(
    account: str = typer.Argument(..., help="web console account name"),
    role: str = typer.Argument(..., help="surveyor or hpo"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Give an account a role (once an HPO exists, only an HPO may)."""
    from radsurvey.daemon.facility.record import grant_role

    with _store(db, config) as store:
        run_command(lambda: grant_role(store, account, role, by=_by(by)))
    typer.echo(f"{account}: {role}")


@role_app.command("revoke")
def role_revoke(
    account: str = typer.Argument(...),
    role: str = typer.Argument(...),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
) -> None:
    """Take a role away (an HPO only)."""
    from radsurvey.daemon.facility.record import revoke_role

    with _store(db, config) as store:
        run_command(lambda: revoke_role(store, account, role, by=_by(by)))
    typer.echo(f"{account}: no longer {role}")


@role_app.command("list")
def role_list(db: Path | None = DbOpt, config: Path | None = ConfigOpt) -> None:
    """Accounts and their roles."""
    with _store(db, config, readonly=True) as store:
        for account, roles in store.accounts().items():
            typer.echo(f"{account}: {', '.join(roles)}")


@app.command("export")
def export_command(
    out: Path = typer.Option(..., "--out", "-o", help="directory: one file per table"),
    fmt: str = typer.Option("csv", "--format", help="csv or json"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """Every table of the record, one CSV or JSON file each."""
    from radsurvey.daemon.facility.views import export_tables

    if fmt not in ("csv", "json"):
        fail(f"--format {fmt!r}: use csv or json")
    with _store(db, config, readonly=True) as store:
        written = run_command(lambda: export_tables(store, out, fmt))
    typer.echo(f"{len(written)} tables written to {out}")


@app.command("report")
def report_command(
    out: Path = typer.Option(..., "--out", "-o", help="the file to write"),
    fmt: str = typer.Option("html", "--format", help="html or pdf"),
    lang: str = typer.Option("en", "--lang", help="en, ru, kk, fa or ro"),
    db: Path | None = DbOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """The facility file: register, what is due, surveys with verdicts, holds, incidents, inspections."""
    from radsurvey.daemon.facility.views import facility_file
    from radsurvey.daemon.report.facility import write_facility_file

    with _store(db, config, readonly=True) as store:
        data = run_command(lambda: facility_file(store))
    run_command(lambda: write_facility_file(data, out, fmt=fmt, lang=lang))
    typer.echo(f"facility file written to {out}")


@app.command("push")
def push_command(
    file: Path = typer.Argument(..., help="survey file (radsurvey.survey/1; radsurvey survey export writes one)"),
    url: str = typer.Option(..., "--url", help="the daemon's web console, e.g. https://monitor.clinic:8080"),
    user: str = typer.Option(..., "--user", help="a console account with the surveyor or hpo role"),
    room: str = typer.Option(..., "--room"),
    apparatus: str | None = typer.Option(None, "--apparatus"),
    timeout_s: float = typer.Option(30.0, "--timeout", help="seconds to wait for the console"),
) -> None:
    """From a laptop: file a survey under a room of the daemon's facility record over its console's API.

    The password is read from stdin (one line) or $RADSURVEY_WEB_PASSWORD; it is never printed.
    """
    import sys

    from radsurvey.daemon.facility.push import push_survey
    from radsurvey.daemon.facility.record import read_survey

    doc = run_command(lambda: read_survey(file))
    password = os.environ.get("RADSURVEY_WEB_PASSWORD") or sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("no password: give it on stdin or in $RADSURVEY_WEB_PASSWORD")
    answer = run_command(
        lambda: push_survey(
            url, user=user, password=password, room=room, survey=doc, apparatus=apparatus, timeout_s=timeout_s
        )
    )
    held = " - room on hold" if answer.get("hold") else ""
    lifted = f" - {answer['holds_lifted']} hold(s) lifted" if answer.get("holds_lifted") else ""
    typer.echo(f"filed {answer['survey']} under {answer['room']} on {url}: {answer['conclusion']}{held}{lifted}")
