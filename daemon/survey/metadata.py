"""What a survey records besides its readings: facility, apparatus, people, instruments.

These models are the ``metadata`` section of a survey file (schema
``radsurvey.survey/1``) and of a survey session. They follow the fields the
protocol must carry (domain kz-2008-303 §1.12) plus the Iranian licensing
identifiers (department radiation-work code, device GEN regulatory id, tube serial).
The technician profile (``profile.toml``) fills their defaults.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from radsurvey.config.schema import known_time_zone
from radsurvey.protocols.errors import SurveyError


class _Meta(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Person(_Meta):
    name: str = ""
    position: str = ""
    organisation: str = ""


class Facility(_Meta):
    name: str = ""
    address: str = ""
    department: str = ""
    room: str = ""
    radiation_work_code: str = Field(
        "", description="department radiation-work (film-badge) code, where licensing uses one"
    )


class ApparatusInfo(_Meta):
    type: str = Field("", description="apparatus type key of the protocol (App. 14 p.4), e.g. general_diagnostic")
    manufacturer: str = ""
    model: str = ""
    serial: str = ""
    tube_serial: str = ""
    regulatory_id: str = Field("", description="regulator's registry id of the device (e.g. Iranian GEN number)")
    sanitary_conclusion: str = Field(
        "", description="number/date of the sanitary-epidemiological conclusion (App. 14 p.6)"
    )


class Instrument(_Meta):
    model: str = ""
    serial: str = ""
    energy_min_keV: float | None = None
    energy_max_keV: float | None = None
    dose_rate_min_uGy_h: float | None = None
    dose_rate_max_uGy_h: float | None = None
    error_percent: float | None = None
    certificate_number: str = ""
    certificate_expires: date | None = None


class Conditions(_Meta):
    anode_voltage_kV: float | None = None
    anode_current_mA: float | None = None
    filter: str = ""
    exposure: str = ""
    phantom: str = ""
    field_size: str = ""
    table_position: str = ""


class AuditEntry(_Meta):
    """A change to captured data: readings discarded by a retake, or a point definition edited."""

    at: str = Field(description="UTC time of the change (ISO 8601)")
    action: Literal["discarded", "edited"]
    point: str = Field("", description="point id; empty for the background")
    height_cm: int | None = None
    readings_uGy_h: list[float] = Field(default_factory=list, description="the readings discarded")
    read_at: list[str] = Field(default_factory=list, description="UTC times those readings were taken")
    field: str = Field("", description="the point field edited")
    old: Any = None
    new: Any = None


class SurveyMetadata(_Meta):
    """Everything the report prints about who, where, with what and why."""

    protocol_number: str = ""
    facility: Facility = Field(default_factory=Facility)
    apparatus: ApparatusInfo = Field(default_factory=ApparatusInfo)
    reason: str = Field("", description="key of the protocol's survey reasons (App. 14 p.5)")
    performed_by: list[Person] = Field(default_factory=list)
    representative: Person = Field(default_factory=Person)
    instruments: list[Instrument] = Field(default_factory=list)
    conditions: Conditions = Field(default_factory=Conditions)
    survey_date: date | None = None
    measured_from: str = Field("", description="UTC time of the first reading kept (sessions)")
    measured_to: str = Field("", description="UTC time of the last reading kept (sessions)")
    layout: str = Field("", description="room layout and measurement grid (App. 14 p.22-23)")
    notes: str = ""
    warnings: list[str] = Field(default_factory=list, description="instrument and capture warnings")
    timezone: str = Field("", description="the site's IANA time zone (e.g. Asia/Almaty); times print in it")
    decision_rule: Literal["simple", "guarded"] = Field(
        "simple", description="simple acceptance (App. 14 p.30 as written) or guarded acceptance (ILAC-G8 4.2.2)"
    )
    plan_outline_m: list[tuple[float, float]] = Field(
        default_factory=list, description="room outline for the sketch: [x, y] corners in metres"
    )
    audit: list[AuditEntry] = Field(default_factory=list, description="retakes and edits, in order")

    _v_timezone = field_validator("timezone")(known_time_zone)


class TechnicianProfile(_Meta):
    """The technician's defaults: ``profile.toml`` in the user's config directory."""

    name: str = ""
    position: str = ""
    organisation: str = ""
    instruments: list[Instrument] = Field(default_factory=list)

    def person(self) -> Person:
        return Person(name=self.name, position=self.position, organisation=self.organisation)


def parse_metadata(data: Any, *, source: str | None = None) -> SurveyMetadata:
    """The validated ``metadata`` section; SurveyError naming the first bad field."""
    try:
        return SurveyMetadata.model_validate(data or {})
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(["metadata", *(str(p) for p in first["loc"])])
        raise SurveyError(_message(first), source=source, field=field) from None


def _message(error: Any) -> str:
    kind = str(error["type"])
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "should be a JSON object or TOML table"
    elif kind in ("list_type",):
        message = "should be a list"
    else:
        message = str(error["msg"])
        message = message[:1].lower() + message[1:]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        shown = repr(error.get("input"))
        message += f", got {shown if len(shown) <= 40 else shown[:37] + '...'}"
    return message


def document_metadata(doc: dict[str, Any], *, source: str | None = None) -> SurveyMetadata:
    """The validated report metadata of a survey file (see :func:`metadata_from_document`)."""
    return parse_metadata(metadata_from_document(doc, source=source), source=source)


def profile_path(override: Path | None = None) -> Path:
    """``--profile``, else ``$RADSURVEY_PROFILE``, else ``$XDG_CONFIG_HOME/radsurvey/profile.toml``."""
    if override is not None:
        return override
    env = os.environ.get("RADSURVEY_PROFILE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "radsurvey" / "profile.toml"


def load_profile(path: Path | None = None) -> TechnicianProfile:
    """The technician profile; an empty one if the file does not exist."""
    path = profile_path(path)
    if not path.exists():
        return TechnicianProfile()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise SurveyError(f"cannot read technician profile: {err}", source=str(path)) from None
    try:
        return TechnicianProfile.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise SurveyError(first["msg"], source=str(path), field=".".join(str(p) for p in first["loc"])) from None


def local_timezone() -> str:
    """This machine's IANA time zone (``$TZ``, else the ``/etc/localtime`` link), or '' if unknown.

    A survey records it when it starts, so the report prints the site's local times.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        candidates.append(target.split("/zoneinfo/", 1)[1] if "/zoneinfo/" in target else "")
    except OSError:
        pass
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return name
    return ""


def apply_profile(meta: SurveyMetadata, profile: TechnicianProfile) -> SurveyMetadata:
    """Fill what the survey does not say from the technician profile."""
    update: dict[str, Any] = {}
    if not meta.performed_by and profile.name:
        update["performed_by"] = [profile.person()]
    if not meta.instruments and profile.instruments:
        update["instruments"] = list(profile.instruments)
    return meta.model_copy(update=update) if update else meta


@dataclass(frozen=True)
class ValidityProblem:
    """Why a survey cannot conclude "complies": a code, the paragraph it breaks, the values.

    ``text`` is the English sentence; reports translate ``code`` with ``params``
    (the templates are :data:`VALIDITY_TEXTS`).
    """

    code: str
    paragraph: str
    params: dict[str, str]

    @property
    def text(self) -> str:
        return VALIDITY_TEXTS[self.code] % self.params


# English sentences of the validity problems; daemon/report/messages.py marks the same
# strings for translation (a test keeps the two in step).
VALIDITY_TEXTS: dict[str, str] = {
    "no_instrument": "no measuring instrument recorded (App. 14 p.32-33 requires a verified dosimeter)",
    "certificate_number_missing": "%(instrument)s: no verification certificate number recorded",
    "certificate_expiry_missing": "%(instrument)s: verification certificate expiry date not recorded",
    "certificate_expired": "%(instrument)s: verification certificate %(certificate)s expired on %(expired)s",
    "energy_range_missing": "%(instrument)s: energy range not recorded (required %(required)s keV)",
    "energy_range_narrow": "%(instrument)s: energy range %(range)s keV does not cover the required %(required)s keV",
    "dose_rate_range_missing": "%(instrument)s: dose-rate range not recorded (required %(required)s uGy/h)",
    "dose_rate_range_narrow": (
        "%(instrument)s: dose-rate range %(range)s uGy/h does not cover the required %(required)s uGy/h"
    ),
    "error_too_large": "%(instrument)s: basic error %(error)s %% exceeds the permitted %(permitted)s %%",
    "no_sanitary_conclusion": (
        "no sanitary-epidemiological conclusion for the X-ray apparatus recorded (App. 14 p.6 allows a survey"
        " only when one exists)"
    ),
}


def instrument_problems(meta: SurveyMetadata, requirements: Any, *, on: date) -> list[ValidityProblem]:
    """Problems with the instruments against the protocol's requirements (App. 14 p.32-33).

    ``requirements`` is the profile's ``instrument`` section; ``on`` the survey date.
    """
    if not meta.instruments:
        return [ValidityProblem("no_instrument", "p.32-33", {})]
    problems: list[ValidityProblem] = []
    r = requirements
    for inst in meta.instruments:
        name = {"instrument": " ".join(x for x in (inst.model, inst.serial) if x) or "instrument"}
        if getattr(r, "verification_certificate_required", True):
            if not inst.certificate_number:
                problems.append(ValidityProblem("certificate_number_missing", "p.33", name))
            if inst.certificate_expires is None:
                problems.append(ValidityProblem("certificate_expiry_missing", "p.33", name))
            elif inst.certificate_expires < on:
                problems.append(
                    ValidityProblem(
                        "certificate_expired",
                        "p.33",
                        {
                            **name,
                            "certificate": inst.certificate_number or "",
                            "expired": inst.certificate_expires.isoformat(),
                        },
                    )
                )
        energy = {"required": f"{r.energy_min_keV:g}-{r.energy_max_keV:g}"}
        if inst.energy_min_keV is None or inst.energy_max_keV is None:
            problems.append(ValidityProblem("energy_range_missing", "p.32", {**name, **energy}))
        elif inst.energy_min_keV > r.energy_min_keV or inst.energy_max_keV < r.energy_max_keV:
            energy["range"] = f"{inst.energy_min_keV:g}-{inst.energy_max_keV:g}"
            problems.append(ValidityProblem("energy_range_narrow", "p.32", {**name, **energy}))
        rates = {"required": f"{r.dose_rate_min_uGy_h:g}-{r.dose_rate_max_uGy_h:g}"}
        if inst.dose_rate_min_uGy_h is None or inst.dose_rate_max_uGy_h is None:
            problems.append(ValidityProblem("dose_rate_range_missing", "p.32", {**name, **rates}))
        elif inst.dose_rate_min_uGy_h > r.dose_rate_min_uGy_h or inst.dose_rate_max_uGy_h < r.dose_rate_max_uGy_h:
            rates["range"] = f"{inst.dose_rate_min_uGy_h:g}-{inst.dose_rate_max_uGy_h:g}"
            problems.append(ValidityProblem("dose_rate_range_narrow", "p.32", {**name, **rates}))
        if inst.error_percent is not None and inst.error_percent > r.basic_error_percent:
            params = {**name, "error": f"{inst.error_percent:g}", "permitted": f"{r.basic_error_percent:g}"}
            problems.append(ValidityProblem("error_too_large", "p.32", params))
    return problems


def check_instruments(meta: SurveyMetadata, requirements: Any, *, on: date) -> list[str]:
    """The instrument problems (App. 14 p.32-33) as sentences; empty when every instrument qualifies."""
    return [p.text.replace("  ", " ") for p in instrument_problems(meta, requirements, on=on)]


def validity_problems(meta: SurveyMetadata, requirements: Any, *, on: date) -> list[ValidityProblem]:
    """Everything that stops the survey from concluding "complies": instruments (p.32-33), conclusion (p.6)."""
    problems = instrument_problems(meta, requirements, on=on)
    if not meta.apparatus.sanitary_conclusion.strip():
        problems.append(ValidityProblem("no_sanitary_conclusion", "p.6", {}))
    return problems


def header_validity_problems(header: dict[str, Any], *, today: date) -> list[str]:
    """The validity problems of a stored session header, as sentences (survey date, else ``today``)."""
    from radsurvey.protocols.profiles import get_profile

    meta = parse_metadata(header.get("metadata"))
    requirements = get_profile(str(header.get("protocol") or "kz-2008-303")).instrument
    return [p.text for p in validity_problems(meta, requirements, on=meta.survey_date or today)]


def confirm_measuring_anyway(ui: Any, problems: list[str], *, strict: bool) -> bool:
    """Before measuring: show what makes the survey not valid and ask whether to go on.

    With ``strict`` nothing is asked and the answer is no. ``ui`` is the survey's
    terminal (``say`` and ``confirm``); without a terminal the answer is yes (the
    problems are recorded as warnings and the report concludes "not valid").
    """
    if not problems:
        return True
    for problem in problems:
        ui.say(f"not valid: {problem}")
    if strict:
        return False
    if not getattr(ui, "interactive", False):
        return True
    return bool(
        ui.confirm(
            "With these problems the protocol will conclude NOT VALID, whatever the readings. Measure anyway?",
            default=False,
        )
    )


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _pair(value: Any) -> tuple[Any, Any]:
    if isinstance(value, list | tuple) and len(value) == 2:
        return value[0], value[1]
    return None, None


def _person(d: Any) -> dict[str, Any]:
    if not isinstance(d, dict):
        return {"name": str(d)} if d else {}
    return {
        "name": d.get("name", ""),
        "position": d.get("position") or d.get("role") or "",
        "organisation": d.get("organisation", ""),
    }


def metadata_from_document(doc: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """The report metadata of a survey file, as a :class:`SurveyMetadata` dict.

    A file written by radsurvey keeps it under ``metadata``. A hand-written file
    may instead use top-level fields the way ``protocols/examples/worked-example.json``
    does (``facility``, ``room``, ``apparatus_identity``, ``conditions``,
    ``instrument``, ``people``, ``date``, ``reason``, ``survey_id``); those are mapped.
    """
    if "metadata" in doc:
        if not isinstance(doc["metadata"], dict):
            shown = repr(doc["metadata"])
            raise SurveyError(
                f"should be a JSON object or TOML table, got {shown if len(shown) <= 40 else shown[:37] + '...'}",
                source=source,
                field="metadata",
            )
        return dict(doc["metadata"])
    meta: dict[str, Any] = {}
    if doc.get("survey_id"):
        meta["protocol_number"] = str(doc["survey_id"])
    if doc.get("date"):
        meta["survey_date"] = str(doc["date"])
    if doc.get("reason"):
        meta["reason"] = str(doc["reason"])
    fac = _obj(doc.get("facility"))
    room = _obj(doc.get("room"))
    meta["facility"] = {
        k: str(v)
        for k, v in {
            "name": fac.get("name"),
            "address": fac.get("address"),
            "department": fac.get("department"),
            "room": room.get("name") or fac.get("room"),
            "radiation_work_code": fac.get("radiation_work_code"),
        }.items()
        if v
    }
    ident = _obj(doc.get("apparatus_identity"))
    meta["apparatus"] = {
        k: str(v)
        for k, v in {
            "type": ident.get("type"),
            "manufacturer": ident.get("manufacturer"),
            "model": ident.get("model"),
            "serial": ident.get("serial"),
            "tube_serial": ident.get("tube_serial"),
            "regulatory_id": ident.get("regulatory_id"),
            "sanitary_conclusion": room.get("sanitary_conclusion") or ident.get("sanitary_conclusion"),
        }.items()
        if v
    }
    cond = _obj(doc.get("conditions"))
    filt = cond.get("filter") or (
        f"{ident['total_filter_mm_Al']:g} mm Al" if isinstance(ident.get("total_filter_mm_Al"), int | float) else ""
    )
    meta["conditions"] = {
        k: v
        for k, v in {
            "anode_voltage_kV": cond.get("anode_voltage_kV"),
            "anode_current_mA": cond.get("anode_current_mA"),
            "filter": filt,
            "exposure": cond.get("exposure"),
            "phantom": cond.get("phantom"),
            "field_size": cond.get("field_size")
            or (f"{cond['field_size_mm']} mm" if cond.get("field_size_mm") else None),
            "table_position": cond.get("table_position"),
        }.items()
        if v not in (None, "")
    }
    raw_instruments = doc.get("instruments") or ([doc["instrument"]] if isinstance(doc.get("instrument"), dict) else [])
    instruments = []
    for inst in raw_instruments:
        if not isinstance(inst, dict):
            continue
        e_min, e_max = _pair(inst.get("energy_range_keV"))
        d_min, d_max = _pair(inst.get("dose_rate_range_uGy_h"))
        cert = _obj(inst.get("verification_certificate"))
        instruments.append(
            {
                k: v
                for k, v in {
                    "model": inst.get("model"),
                    "serial": inst.get("serial"),
                    "energy_min_keV": inst.get("energy_min_keV", e_min),
                    "energy_max_keV": inst.get("energy_max_keV", e_max),
                    "dose_rate_min_uGy_h": inst.get("dose_rate_min_uGy_h", d_min),
                    "dose_rate_max_uGy_h": inst.get("dose_rate_max_uGy_h", d_max),
                    "error_percent": inst.get("error_percent", inst.get("basic_error_percent")),
                    "certificate_number": inst.get("certificate_number") or cert.get("number"),
                    "certificate_expires": inst.get("certificate_expires") or cert.get("expires"),
                }.items()
                if v is not None
            }
        )
    if instruments:
        meta["instruments"] = instruments
    people = _obj(doc.get("people"))
    if people.get("surveyors"):
        meta["performed_by"] = [_person(p) for p in people["surveyors"]]
    if people.get("administration_representative"):
        meta["representative"] = _person(people["administration_representative"])
    return meta
