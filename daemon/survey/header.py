"""The protocol header asked on a terminal: what a complete protocol needs (domain kz-2008-303 §1.12).

Whatever the plan file already gives is not asked. Optional fields (the Iranian
licensing identifiers, a tube serial...) are skipped with ``-``; a plan skips
them by giving the key with an empty value. Who performed the survey and with
which instrument are asked only when neither the plan nor the technician
profile says.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from .metadata import TechnicianProfile, document_metadata, metadata_from_document
from .points import parse_decimal, parse_range

SKIP = "-"


def ask_header(
    doc: dict[str, Any],
    ui: Any,
    technician: TechnicianProfile,
    *,
    profile_file: Path | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """Fill ``doc`` (a plan, possibly empty) with the header answers; returns it.

    The plan's metadata is checked first (SurveyError naming ``source`` and the
    field, before any question) and brought under ``metadata`` if the plan uses
    the top-level fields of a hand-written survey file.
    """
    from radsurvey.protocols.profiles import get_profile

    document_metadata(doc, source=source)
    doc["metadata"] = metadata_from_document(doc, source=source)
    profile = get_profile(doc.get("protocol") or "kz-2008-303")
    meta = doc["metadata"]
    _optional(ui, meta, "protocol_number", "Protocol number (- for the survey id)", hint=False)
    fac = meta.setdefault("facility", {})
    for key, prompt in (
        ("name", "Facility"),
        ("address", "Address"),
        ("department", "Department"),
        ("room", "Room (procedure room)"),
    ):
        if not fac.get(key):
            fac[key] = ui.ask_text(prompt, default=SKIP)
    _optional(ui, fac, "radiation_work_code", "Radiation-work (film-badge) code of the department")
    if not doc.get("apparatus"):
        doc["apparatus"] = ui.ask_choice(
            "Apparatus (App. 14 Table 1: workload W)",
            [
                (w.key, f"{w.description} - W {w.workload_mA_min_per_week:g}, U {w.voltage_kV}")
                for w in profile.workloads
            ],
            default="radiography",
        )
    app_ = meta.setdefault("apparatus", {})
    if not app_.get("type"):
        app_["type"] = ui.ask_choice(
            "Apparatus type (App. 14 p.4)",
            [(a.key, a.text) for a in profile.apparatus_types],
            default="general_diagnostic",
        )
    for key, prompt in (
        ("manufacturer", "Manufacturer"),
        ("model", "Model"),
        ("serial", "Apparatus serial"),
    ):
        if not app_.get(key):
            app_[key] = ui.ask_text(prompt, default=SKIP)
    _optional(ui, app_, "tube_serial", "X-ray tube serial")
    _optional(ui, app_, "regulatory_id", "Regulatory id of the device (e.g. Iranian GEN number)")
    _optional(ui, app_, "sanitary_conclusion", "Sanitary-epidemiological conclusion, number and date (App. 14 p.6)")
    if not meta.get("reason"):
        meta["reason"] = ui.ask_choice(
            "Reason for the survey (App. 14 p.5)",
            [(r.key, r.text) for r in profile.survey_reasons],
            default="scheduled_or_as_needed",
        )
    cond = meta.setdefault("conditions", {})
    for key, prompt, default in (
        ("filter", "Total filter (App. 14 p.15)", SKIP),
        ("exposure", "Exposure settings: time, mAs, mode (App. 14 p.15)", SKIP),
        ("phantom", "Phantom (App. 14 p.16)", "water, 250 x 250 x 150 mm"),
        ("field_size", "Field size (App. 14 p.18)", "180 x 180 mm"),
        ("table_position", "Table-stand position (App. 14 p.19)", SKIP),
    ):
        if not cond.get(key):
            cond[key] = ui.ask_text(prompt, default=default)
    if "background_compensated" not in doc:
        doc["background_compensated"] = ui.confirm(
            "Does the instrument subtract the background itself (App. 14 p.14)?", default=False
        )
    rep = meta.setdefault("representative", {})
    if not rep.get("name"):
        rep["name"] = ui.ask_text("Facility representative present (name)", default=SKIP)
    _optional(ui, rep, "position", "Representative's position")
    _ask_people_and_instrument(meta, ui, technician, profile_file)
    return doc


def _ask_people_and_instrument(
    meta: dict[str, Any], ui: Any, technician: TechnicianProfile, profile_file: Path | None
) -> None:
    need_person = not meta.get("performed_by") and not technician.name
    need_instrument = not meta.get("instruments") and not technician.instruments
    if not (need_person or need_instrument):
        return
    where = f" ({profile_file})" if profile_file else ""
    ui.say(
        f"No technician profile{where} says who performs the survey and with which instrument;"
        " save them there to skip these questions next time."
    )
    if need_person:
        person = {"name": ui.ask_text("Survey performed by (name)")}
        _optional(ui, person, "position", "Position")
        _optional(ui, person, "organisation", "Organisation (accredited laboratory)")
        meta["performed_by"] = [person]
    if need_instrument:
        instrument: dict[str, Any] = {}
        _optional(ui, instrument, "model", "Dosimeter model")
        _optional(ui, instrument, "serial", "Dosimeter serial number")
        if not (instrument["model"] or instrument["serial"]):
            return  # no instrument named: the instrument check says so
        _optional(ui, instrument, "certificate_number", "Verification certificate number (App. 14 p.33)")
        expires = _ask_date(ui, "Certificate valid until, YYYY-MM-DD")
        if expires is not None:
            instrument["certificate_expires"] = expires.isoformat()
        for keys, prompt in (
            (("energy_min_keV", "energy_max_keV"), "Energy range, keV (e.g. 15-3000)"),
            (("dose_rate_min_uGy_h", "dose_rate_max_uGy_h"), "Dose-rate range, uGy/h (e.g. 0.1-1000)"),
        ):
            pair = _ask_range(ui, prompt)
            if pair is not None:
                instrument[keys[0]], instrument[keys[1]] = pair
        error = _ask_number(ui, "Basic error, %")
        if error is not None:
            instrument["error_percent"] = error
        meta["instruments"] = [instrument]


def _optional(ui: Any, section: dict[str, Any], key: str, prompt: str, *, hint: bool = True) -> None:
    """Ask ``key`` unless the plan gives it (even empty); ``-`` leaves it empty.

    ``hint=False`` when the prompt already says what ``-`` means (one default, stated once).
    """
    if key in section:
        return
    answer = ui.ask_text(f"{prompt} (- to skip)" if hint else prompt, default=SKIP)
    section[key] = "" if answer.strip() == SKIP else answer.strip()


def _ask_date(ui: Any, prompt: str) -> date | None:
    while True:
        answer = ui.ask_text(f"{prompt} (- to skip)", default=SKIP).strip()
        if answer == SKIP:
            return None
        try:
            return date.fromisoformat(answer)
        except ValueError:
            ui.say(f"{answer!r} is not a date; type it as YYYY-MM-DD, e.g. 2027-03-01")


def _ask_range(ui: Any, prompt: str) -> tuple[float, float] | None:
    while True:
        answer = ui.ask_text(f"{prompt} (- to skip)", default=SKIP).strip()
        if answer == SKIP:
            return None
        try:
            return parse_range(answer)
        except ValueError as err:
            ui.say(str(err))


def _ask_number(ui: Any, prompt: str) -> float | None:
    while True:
        answer = ui.ask_text(f"{prompt} (- to skip)", default=SKIP).strip()
        if answer == SKIP:
            return None
        try:
            value = parse_decimal(answer.rstrip("%"))
        except ValueError:
            value = -1.0
        if value > 0:
            return value
        ui.say(f"{answer!r} is not a number > 0")
