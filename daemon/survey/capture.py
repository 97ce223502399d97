"""The guided capture: background, then each point and height, then the evaluation.

The flow is driven by what the session already holds, so ``resume`` after a
crash continues at the first height that lacks readings. Every answer can come
from a *plan* (a survey file whose readings are optional) instead of a prompt:
with ``interactive=False`` nothing is ever asked, and a missing answer is an error
naming what is missing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from radsurvey.protocols.errors import MeterError, SurveyError

from .evaluation import evaluate_document, evaluate_point
from .meter import MeterSample, ReadingSource
from .points import (
    DWELLING_CATEGORY,
    SPEC_FIELDS,
    check_field,
    check_point_spec,
    default_kind,
    lenient_number,
    parse_attenuation_factor,
    parse_decimal,
    parse_heights,
)
from .store import BACKGROUND, SurveySession, SurveyStore

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation, SurveyEvaluation


@dataclass
class CaptureSettings:
    repeats: int = 3  # readings per height and for the background (>= the protocol's minimum)
    settle_s: float = 0.0  # meter readings shown but not kept after the probe is placed
    until_stable: bool = False  # after settle_s, also wait until the last readings agree
    settle_max_s: float = 60.0
    spread_warn_percent: float = 20.0  # coefficient of variation above which a retake is offered
    max_retakes: int = 2  # in non-interactive runs: retakes before accepting with a warning


def beam_findings(header: dict[str, Any], spec: dict[str, Any], profile: Any) -> list[Any]:
    """The App. 14 p.15 findings for a point spec of a session (current and voltage as the spec has them)."""
    from radsurvey.protocols.evaluation import beam_condition_findings

    current = spec.get("anode_current_mA")
    if not isinstance(current, int | float) or isinstance(current, bool):
        return []
    voltage = spec.get("anode_voltage_kV")
    maximum = header.get("apparatus_max_voltage_kV")
    return list(
        beam_condition_findings(
            profile,
            apparatus=str(header.get("apparatus") or ""),
            anode_current_mA=float(current),
            anode_voltage_kV=float(voltage) if isinstance(voltage, int | float) else None,
            apparatus_max_voltage_kV=float(maximum) if isinstance(maximum, int | float) else None,
            fluoroscopy=spec.get("mode") == "fluoroscopy",
        )
    )


class UI(Protocol):
    """What the flow needs from a terminal (rich) or from nobody (non-interactive)."""

    interactive: bool

    def say(self, text: str) -> None: ...
    def ask_text(self, prompt: str, default: str | None = None) -> str: ...
    def ask_float(self, prompt: str, default: float | None = None) -> float: ...
    def ask_choice(self, prompt: str, choices: list[tuple[str, str]], default: str | None = None) -> str: ...
    def confirm(self, prompt: str, default: bool = True) -> bool: ...
    def wait(self, prompt: str) -> None: ...


class SilentUI:
    """No terminal: prints progress through ``echo`` and refuses to ask anything."""

    interactive = False

    def __init__(self, echo: Callable[[str], None] = print):
        self.echo = echo

    def say(self, text: str) -> None:
        self.echo(text)

    def _refuse(self, prompt: str) -> Any:
        raise SurveyError(
            f"needs an answer to {prompt!r}; give it in the plan file or run interactively",
            field="plan",
        )

    def ask_text(self, prompt: str, default: str | None = None) -> str:
        return self._refuse(prompt)

    def ask_float(self, prompt: str, default: float | None = None) -> float:
        return self._refuse(prompt)

    def ask_choice(self, prompt: str, choices: list[tuple[str, str]], default: str | None = None) -> str:
        return self._refuse(prompt)

    def confirm(self, prompt: str, default: bool = True) -> bool:
        return default

    def wait(self, prompt: str) -> None:
        return None


def spread_percent(values: list[float]) -> float:
    """Coefficient of variation in %, 0 for fewer than 2 values or a zero mean."""
    if len(values) < 2:
        return 0.0
    mean = statistics.fmean(values)
    if mean <= 0:
        return 0.0
    return statistics.stdev(values) / mean * 100.0


def summary(values: list[float]) -> str:
    if not values:
        return "-"
    mean = statistics.fmean(values)
    return f"mean {mean:.4g} uGy/h, spread {spread_percent(values):.1f} % ({len(values)} readings)"


@dataclass
class SurveyFlow:
    """Runs (or resumes) the capture of one session."""

    store: SurveyStore
    survey_id: str
    ui: Any
    source: ReadingSource | None = None  # None: readings typed by hand
    settings: CaptureSettings = field(default_factory=CaptureSettings)
    plan: dict[str, Any] = field(default_factory=dict)
    finish: bool = True  # mark finished when the plan is done (non-interactive) or the user says so
    strict: bool = False  # beam conditions outside App. 14 p.15 are refused, not warned about
    beam_on_asked: bool = field(default=False, init=False)  # "switch the apparatus ON", once per sitting

    def session(self) -> SurveySession:
        return self.store.get(self.survey_id)

    # -- the whole flow -------------------------------------------------------------

    def run(self) -> SurveyEvaluation | None:
        """Capture until done; the survey evaluation if finished, else None."""
        s = self.session()
        if s.status == "finished":
            raise SurveyError(f"survey {self.survey_id} is finished; export it or start a new one")
        problems = s.problems()
        if problems:
            raise SurveyError(
                f"{problems[0]}; repair it: radsurvey survey export {self.survey_id} --out {self.survey_id}.json,"
                f" correct that field, then radsurvey survey start --plan {self.survey_id}.json"
                " (the readings in the file are kept)"
            )
        self.repair_points(s)
        self.check_meter_identity(s)
        if not s.header.get("background_compensated"):
            self.capture_background()
        while True:
            s = self.session()
            pending = next((p for p in s.points if self._missing_heights(s, p)), None)
            if pending is None:
                spec = self.next_point_spec(s)
                if spec is None:
                    break
                self.store.add_point(self.survey_id, spec)
                pending = spec
            self.capture_point(pending)
        if not self.finish:
            return None
        if self.ui.interactive and not self.ui.confirm("Finish the survey and evaluate it?", default=True):
            self.ui.say(f"Survey {self.survey_id} left open; continue with: radsurvey survey resume {self.survey_id}")
            return None
        return self.finalise()

    def check_meter_identity(self, s: SurveySession) -> None:
        """Warn when the connected meter is unfit for the survey (App. 14 p.32, from the model
        tables) or is not one of the survey's recorded instruments."""
        identity = getattr(self.source, "identity", None)
        self.check_meter_fitness(s, identity)
        serial = getattr(identity, "serial", "") if identity is not None else ""
        if not serial:
            return
        recorded = {str(i.get("serial", "")) for i in (s.header.get("metadata") or {}).get("instruments") or []}
        if serial not in recorded:
            model = getattr(identity, "model", "") or "meter"
            text = (
                f"connected meter {model} serial {serial} is not among the recorded instruments "
                f"({', '.join(sorted(r for r in recorded if r)) or 'none'}); check its verification certificate"
            )
            if self.store.add_warning(self.survey_id, text):
                self.ui.say(f"warning: {text}")

    def check_meter_fitness(self, s: SurveySession, identity: Any) -> None:
        """The p.32 warning for a meter whose model table says it cannot do this survey.

        The technician types nothing: the driver's model table (drivers/<name>/models.py)
        knows the model's energy range and pulsed-field suitability (a GM counter fails both).
        """
        from radsurvey.drivers.models import p32_problems

        driver = getattr(self.source, "driver_name", None)
        model = getattr(identity, "model", "") if identity is not None else ""
        if not driver or not model:
            return
        required = self._profile(s).instrument
        for problem in p32_problems(
            driver,
            model,
            energy_min_keV=float(required.energy_min_keV),
            energy_max_keV=float(required.energy_max_keV),
        ):
            text = f"instrument unfit for this survey (App. 14 p.32): {problem.text}"
            if self.store.add_warning(self.survey_id, text):
                self.ui.say(f"warning: {text}")

    def finalise(self) -> SurveyEvaluation:
        s = self.session()
        if not s.points:
            raise SurveyError("the survey has no points", field="points")
        result = evaluate_document(s.document(), source=f"survey {self.survey_id}")
        for point in result.points:
            self.store.record_point(self.survey_id, point)
        self.store.set_status(self.survey_id, "finished")
        show_summary = getattr(self.ui, "survey_summary", None)
        if show_summary is not None:
            show_summary(result)
        else:
            for point in result.points:
                self.ui.say(point_line(point))
        self.ui.say(f"Survey {self.survey_id}: {result.verdict.upper()}")
        for w in result.warnings:
            self.ui.say(f"warning: {w}")
        return result

    # -- background -------------------------------------------------------------------

    def capture_background(self) -> None:
        n = self.settings.repeats
        planned = [float(v) for v in self.plan.get("background_uGy_h") or []]
        for attempt in range(self.settings.max_retakes + 1):
            have = self.session().background
            if len(have) >= n:
                return
            if not have:
                self.ui.say(f"Background: apparatus OFF. {n} readings.")
                if self.source is not None:
                    self.ui.wait("Switch the X-ray apparatus off and place the probe. Press Enter to start")
            values = self._capture(BACKGROUND, None, n - len(have), planned[len(have) :], label="background")
            self.ui.say(f"Background: {summary(values)}")
            if not self._offer_retake(values, "background", planned_given=bool(planned), attempt=attempt):
                return
            self.store.discard(self.survey_id, point=BACKGROUND, height_cm=None)

    # -- points ---------------------------------------------------------------------------

    def _missing_heights(self, s: SurveySession, spec: dict[str, Any]) -> list[int]:
        return [h for h in spec.get("heights_cm", []) if len(s.kept(spec["id"], h)) < self.settings.repeats]

    def _planned_point(self, point_id: str) -> dict[str, Any]:
        return next((p for p in self.plan.get("points") or [] if p.get("id") == point_id), {})

    def next_point_spec(self, s: SurveySession) -> dict[str, Any] | None:
        done = {p["id"] for p in s.points}
        for p in self.plan.get("points") or []:
            if p.get("id") not in done:
                return self._complete_spec(s, p)
        if not self.ui.interactive:
            return None
        if not self.ui.confirm(
            "Add a measurement point?" if s.points else "Add the first measurement point?",
            default=True,
        ):
            return None
        return self._complete_spec(s, {})

    def _profile(self, s: SurveySession) -> Any:
        from radsurvey.protocols.profiles import get_profile

        return get_profile(s.header.get("protocol") or "kz-2008-303")

    @staticmethod
    def _formula3(s: SurveySession) -> str:
        options = s.header.get("options")
        return str(options.get("formula3", "literal")) if isinstance(options, dict) else "literal"

    def _complete_spec(self, s: SurveySession, given: dict[str, Any]) -> dict[str, Any]:
        """A point's spec from the plan and the prompts, every field checked before it is stored."""
        profile = self._profile(s)
        taken = {p["id"] for p in s.points}
        spec: dict[str, Any] = {}
        for key in SPEC_FIELDS:
            value = _given_value(key, given)
            from_plan = value is not _MISSING
            if not from_plan:
                value = self._unplanned_value(key, s, spec, profile)
                if value is _MISSING:
                    continue  # optional and not given
            spec[key] = value
            self._settle_field(key, s, spec, profile, taken, from_plan=from_plan)
        for key in ("note", "barrier"):  # barrier: the shielding design's barrier behind the point (docs/shielding.md)
            if given.get(key):
                spec[key] = given[key]
        self._check_beam_conditions(s, spec, profile, taken)
        return spec

    def _check_beam_conditions(self, s: SurveySession, spec: dict[str, Any], profile: Any, taken: set[str]) -> None:
        """App. 14 p.15 on a new point: a warning; with --strict re-asked on a terminal, else an error."""
        for _ in range(10):
            findings = list(beam_findings(s.header, spec, profile))
            if not findings:
                return
            first = findings[0]
            if not self.strict:
                for finding in findings:
                    self.ui.say(f"warning: point {spec['id']}: {finding}")
                return
            if not self.ui.interactive:
                raise SurveyError(f"{first} (--strict)", field=f"points[{spec['id']}].{first.field}")
            self.ui.say(f"Point {spec['id']}: {first} (--strict); enter the value used")
            spec[first.field] = self._ask_field(str(first.field), s, spec, profile)
            self._settle_field(str(first.field), s, spec, profile, taken)
        raise SurveyError(f"point {spec['id']}: beam conditions still outside App. 14 p.15 (--strict)")

    def _unplanned_value(self, key: str, s: SurveySession, spec: dict[str, Any], profile: Any) -> Any:
        """A field the plan does not give: asked on a terminal, else the protocol's default or an error."""
        if key == "design_attenuation_factor":
            if spec.get("category") != DWELLING_CATEGORY or not self.ui.interactive:
                return _MISSING
            answer = self._ask_field(key, s, spec, profile)
            return _MISSING if answer is None else answer
        if key == "location":
            if not self.ui.interactive:
                return _MISSING
            answer = self._ask_field(key, s, spec, profile)
            return _MISSING if answer.strip() in ("", "-") else answer
        if self.ui.interactive or key in ("id", "room", "category", "kind"):
            return self._ask_field(key, s, spec, profile)  # SilentUI refuses, naming the prompt
        if key == "heights_cm":
            kind = profile.point_kind(spec.get("kind"))
            if kind is None or not kind.heights_cm:
                raise SurveyError(
                    "no measurement height given and the protocol proposes none",
                    field=f"points[{spec['id']}].heights_cm",
                )
            return list(kind.heights_cm)
        fallback = self._fallback(key, s, profile)
        if fallback is not None:
            return fallback
        if key == "anode_voltage_kV":
            return _MISSING  # optional in the survey file; the report shows a dash
        raise SurveyError(f"{FIELD_PROMPTS[key]} not given", field=f"points[{spec['id']}].{key}")

    def _fallback(self, key: str, s: SurveySession, profile: Any) -> float | None:
        """The previous point's value, else the survey's conditions, else (voltage) the table's standard U."""
        last = s.points[-1] if s.points else {}
        cond = s.metadata.get("conditions")
        cond = cond if isinstance(cond, dict) else {}
        candidates = [last.get(key), cond.get(key)]
        if key == "anode_voltage_kV":
            workload = profile.workload(str(s.header.get("apparatus")))
            candidates.append(workload.voltage_kV if workload is not None else None)
        for value in candidates:
            if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
                return float(value)
        return None

    def _ask_field(self, key: str, s: SurveySession, spec: dict[str, Any], profile: Any) -> Any:
        ui = self.ui
        last = s.points[-1] if s.points else {}
        if key == "id":
            taken = {p["id"] for p in s.points}
            n = len(s.points) + 1
            while f"P{n}" in taken:
                n += 1
            return ui.ask_text(FIELD_PROMPTS[key], default=f"P{n}")
        if key == "room":
            facility = s.metadata.get("facility")
            room = facility.get("room") if isinstance(facility, dict) else None
            return ui.ask_text(FIELD_PROMPTS[key], default=last.get("room") or room or None)
        if key == "location":
            return ui.ask_text(FIELD_PROMPTS[key], default="-")
        if key == "category":
            choices = [(str(c.number), f"{c.description} - limit {c.dmd_uSv_h:g} uSv/h") for c in profile.categories]
            answer = ui.ask_choice(FIELD_PROMPTS[key], choices, default=str(last.get("category") or ""))
            return int(answer) if str(answer).isdigit() else answer
        if key == "kind":
            choices = [
                (k.key, f"{k.text} - heights {', '.join(map(str, k.heights_cm)) or 'your choice'}")
                for k in profile.point_kinds
            ]
            return ui.ask_choice(FIELD_PROMPTS[key], choices, default=default_kind(spec.get("category")))
        if key == "heights_cm":
            kind = profile.point_kind(spec.get("kind"))
            proposed = " ".join(map(str, kind.heights_cm)) if kind is not None else ""
            variant = self._formula3(s)
            if (
                kind is not None
                and variant in profile.formula3
                and set(kind.heights_cm)
                == set(
                    profile.formula3[variant].heights_cm  # type: ignore[index]
                )
            ):
                ui.say(formula3_note(profile, variant))
            while True:
                text = ui.ask_text(FIELD_PROMPTS[key], default=proposed or "80")
                try:
                    return parse_heights(text)
                except ValueError as err:
                    ui.say(f"{err}")
        if key == "design_attenuation_factor":
            while True:
                try:
                    value = parse_attenuation_factor(ui.ask_text(FIELD_PROMPTS[key], default="-"))
                    break
                except ValueError as err:
                    ui.say(f"{err}")
            if value is None:
                return None
            return {"value": value, "source": ui.ask_text("Source of K (shielding design: document, sheet)")}
        # The anode current and voltage are read as any number: the protocol's check (check_field) then
        # says the same "must be a number > 0" for -4 as for 0, instead of a prompt-level ">= 0".
        fallback = self._fallback(key, s, profile)
        while True:
            text = ui.ask_text(FIELD_PROMPTS[key], default=None if fallback is None else f"{fallback:g}")
            try:
                return parse_decimal(text)
            except ValueError as err:
                ui.say(f"{err}")

    def _settle_field(
        self,
        key: str,
        s: SurveySession,
        spec: dict[str, Any],
        profile: Any,
        taken: set[str],
        *,
        from_plan: bool = False,
    ) -> None:
        """Re-ask ``spec[key]`` until the protocol accepts it; without a terminal, fail naming the field."""
        while problem := check_field(key, spec, profile, formula3=self._formula3(s), taken_ids=taken):
            if not self.ui.interactive:
                raise SurveyError(
                    problem,
                    source="plan" if from_plan else None,
                    field=f"points[{spec.get('id') or '?'}].{key}",
                )
            self.ui.say(problem[:1].upper() + problem[1:])
            spec[key] = self._ask_field(key, s, spec, profile)

    def repair_points(self, s: SurveySession) -> None:
        """Correct point specs an older radsurvey stored unchecked (e.g. anode current 0) before resuming.

        The right value comes from the plan (a point with the same id), else from
        the technician; without a terminal the error says how to give it. Each
        correction is recorded as a survey warning.
        """
        profile = self._profile(s)
        formula3 = self._formula3(s)
        for stored in s.points:
            pid = stored.get("id")
            others = {p["id"] for p in s.points if p is not stored}
            problems = check_point_spec(stored, profile, formula3=formula3, taken_ids=others)
            if not problems:
                continue
            spec = dict(stored)
            planned = self._planned_point(str(pid))
            for key, problem in problems:
                if key == "id":
                    raise SurveyError(
                        f"{problem}; this session cannot be resumed: export it, correct the point and start"
                        " again from the file with --plan",
                        source=f"survey {self.survey_id}",
                        field="points",
                    )
                old = spec.get(key)
                value = _given_value(key, planned)
                if value is not _MISSING:
                    spec[key] = value
                if value is _MISSING or check_field(key, spec, profile, formula3=formula3, taken_ids=others):
                    if not self.ui.interactive:
                        raise SurveyError(
                            f"{problem} (stored by an older radsurvey); give the value used as"
                            f" points[{pid}].{key} in a --plan file, or resume in a terminal to correct it",
                            source=f"survey {self.survey_id}",
                            field=f"points[{pid}].{key}",
                        )
                    self.ui.say(f"Point {pid}: {problem} (stored by an older radsurvey); enter the value used")
                    spec[key] = self._ask_field(key, s, spec, profile)
                    self._settle_field(key, s, spec, profile, others)
                text = f"point {pid}: {key} corrected from {old!r} to {spec[key]!r} when the survey was resumed"
                if self.store.add_warning(self.survey_id, text):
                    self.ui.say(f"warning: {text}")
            self.store.update_point(self.survey_id, spec)

    def capture_point(self, spec: dict[str, Any]) -> None:
        pid = spec["id"]
        planned = self._planned_point(pid).get("readings_uGy_h") or {}
        self.ui.say(
            f"Point {pid} ({spec.get('room', '')}), category {spec.get('category')}, heights {spec['heights_cm']} cm"
        )
        formula = self._formula_for(spec)
        if formula:
            self.ui.say(formula)
        self._ask_beam_on(spec, planned)
        for height in spec["heights_cm"]:
            given = [float(v) for v in planned.get(str(height)) or planned.get(height) or []]
            for attempt in range(self.settings.max_retakes + 1):
                have = self.session().kept(pid, height)
                if len(have) >= self.settings.repeats:
                    break
                if not have and (self.source is not None or not given):
                    self.ui.wait(
                        f"Place the probe at {height} cm above the floor (point {pid}). Press Enter when ready"
                    )
                values = self._capture(
                    pid,
                    height,
                    self.settings.repeats - len(have),
                    given[len(have) :],
                    label=f"{pid} {height} cm",
                )
                self.ui.say(f"{pid} at {height} cm: {summary(values)}")
                kept_as = f"point {pid} at {height} cm"
                if not self._offer_retake(values, kept_as, planned_given=bool(given), attempt=attempt):
                    break
                self.store.discard(self.survey_id, point=pid, height_cm=height)
        self.show_point_result(pid)

    def _ask_beam_on(self, spec: dict[str, Any], planned: dict[Any, Any]) -> None:
        """Before the first point measured in this sitting: the apparatus goes ON (the background asked OFF)."""
        if self.beam_on_asked:
            return
        s = self.session()
        to_measure = [
            h
            for h in spec["heights_cm"]
            if len(s.kept(spec["id"], h)) < self.settings.repeats
            and (self.source is not None or not (planned.get(str(h)) or planned.get(h)))
        ]
        if not to_measure:
            return
        self.beam_on_asked = True
        settings = [
            f"{v:g} {unit}"
            for v, unit in ((spec.get("anode_voltage_kV"), "kV"), (spec.get("anode_current_mA"), "mA"))
            if v
        ]
        at = f" at {', '.join(settings)}" if settings else ""
        self.ui.wait(f"Switch the X-ray apparatus ON{at} for the measurements. Press Enter when it is on")

    def _formula_for(self, spec: dict[str, Any]) -> str:
        """ "E by formula (3): E = ..." for the point's kind and heights, shown before its first reading."""
        from radsurvey.protocols.formulas import formula_text, select_formula

        s = self.session()
        profile = self._profile(s)
        variant = "conservative" if self._formula3(s) == "conservative" else "literal"
        kind = spec.get("kind") if isinstance(spec.get("kind"), str) else None
        try:
            formula = select_formula(spec["heights_cm"], variant, profile=profile, kind=kind)
        except SurveyError:
            return ""
        return f"E by formula ({formula}): {formula_text(profile, formula, variant)}"

    def show_point_result(self, pid: str) -> PointEvaluation | None:
        doc = self.session().document()
        try:
            result = evaluate_point(doc, pid, source=f"survey {self.survey_id}")
        except SurveyError as err:
            self.ui.say(f"Point {pid} cannot be evaluated yet: {err}")
            return None
        self.store.record_point(self.survey_id, result)
        say = getattr(self.ui, "point_result", None)
        if say is not None:
            say(result)
        else:
            self.ui.say(point_line(result))
        return result

    # -- readings -------------------------------------------------------------------------

    def _capture(self, point: str, height: int | None, count: int, given: list[float], *, label: str) -> list[float]:
        """Take ``count`` readings (plan values first, then meter or keyboard), committing each."""
        if count <= 0:
            return self.session().kept(point, height)
        if self.source is not None and len(given) < count:
            self._settle(label)
        for i in range(count):
            if i < len(given):
                value, source, unit, raw = given[i], "plan", "uGy/h", ""
            elif self.source is not None:
                sample = self._meter_reading(label)
                value, source, unit, raw = (
                    sample.value_uGy_h,
                    sample.source,
                    sample.unit,
                    sample.raw,
                )
                if unit != "uGy/h" and self.store.add_warning(
                    self.survey_id,
                    f"{source} reports {unit} (ambient dose equivalent H*(10)); its values are used as "
                    "air kerma rate uGy/h 1:1, which overestimates D at X-ray energies (conservative)",
                ):
                    self.ui.say(f"warning: {source} reports {unit}; values used as uGy/h 1:1 (conservative)")
            elif self.ui.interactive:
                value = self.ui.ask_float(f"{label}: reading {len(self.session().kept(point, height)) + 1}, uGy/h")
                source, unit, raw = "manual", "uGy/h", ""
            else:
                raise SurveyError(f"{label}: no readings in the plan and no meter", field="plan")
            if value < 0:
                raise SurveyError(f"{label}: a dose rate cannot be negative ({value})")
            self.store.add_reading(
                self.survey_id,
                point=point,
                height_cm=height,
                value_uGy_h=value,
                source=source,
                unit=unit,
                raw=raw,
            )
            kept = self.session().kept(point, height)
            self.ui.say(f"  {label}  reading {len(kept)}: {value:.4g} uGy/h   {summary(kept)}")
        return self.session().kept(point, height)

    def _meter_reading(self, label: str) -> MeterSample:
        assert self.source is not None
        for _ in range(20):
            try:
                sample = self.source.read()
            except MeterError as err:
                self.ui.say(f"  {label}: meter error: {err}; retrying")
                time.sleep(0.5)
                continue
            if sample.problem:
                self.ui.say(f"  {label}: reading not used: {sample.problem}")
                continue
            return sample
        raise MeterError(f"{label}: no usable reading after 20 attempts", meter=self.source.name)

    def _settle(self, label: str) -> None:
        assert self.source is not None
        s = self.settings
        if s.settle_s <= 0 and not s.until_stable:
            return
        start = time.monotonic()
        recent: list[float] = []
        while True:
            elapsed = time.monotonic() - start
            settled = elapsed >= s.settle_s
            if settled and (
                not s.until_stable or (len(recent) >= 3 and spread_percent(recent[-3:]) <= s.spread_warn_percent)
            ):
                return
            if elapsed >= s.settle_max_s:
                self.ui.say(f"  {label}: reading did not settle within {s.settle_max_s:g} s; measuring anyway")
                return
            sample = self._meter_reading(label)
            recent.append(sample.value_uGy_h)
            self.ui.say(f"  {label}  settling: {sample.value_uGy_h:.4g} uGy/h")

    def _offer_retake(self, values: list[float], what: str, *, planned_given: bool, attempt: int) -> bool:
        """True to retake; readings kept despite a wide spread are a warning in the survey (and report)."""
        spread = spread_percent(values)
        if spread <= self.settings.spread_warn_percent:
            return False
        text = f"{what}: spread {spread:.1f} % exceeds {self.settings.spread_warn_percent:g} %"
        self.ui.say(f"warning: {text}")
        if planned_given:
            retake = False  # the values were given; keep them
        elif self.ui.interactive:
            retake = self.ui.confirm("Retake these readings?", default=True)
        else:
            retake = attempt < self.settings.max_retakes
        if not retake:
            self.store.add_warning(self.survey_id, f"{text}; readings kept")
        return retake


FIELD_PROMPTS = {
    "id": "Point id",
    "room": "Room / location",
    "location": "Position of the probe in the room (e.g. 1 m from the beam axis; - to skip)",
    "category": "Room category (App. 14 Table 2)",
    "kind": "Kind of point",
    "heights_cm": "Heights above the floor, cm",
    "anode_current_mA": "Anode current, mA",
    "anode_voltage_kV": "Anode voltage, kV",
    "design_attenuation_factor": (
        "Design attenuation factor K of the shielding towards the dwelling (App. 14 p.25; - if measured"
        " in the dwelling itself)"
    ),
}

_MISSING: Any = object()


def _given_value(key: str, given: dict[str, Any]) -> Any:
    """A field as a plan (or a stored spec) gives it, converted leniently; ``_MISSING`` if absent."""
    if key == "heights_cm":
        if given.get("heights_cm") is not None:
            raw = given["heights_cm"]
            return [_height(h) for h in raw] if isinstance(raw, list) else raw
        readings = given.get("readings_uGy_h")
        if isinstance(readings, dict) and readings:
            return [_height(h) for h in readings]
        return _MISSING
    value = given.get(key)
    if value is None or value == "":
        return _MISSING
    if key == "category" and isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if key in ("anode_current_mA", "anode_voltage_kV"):
        return lenient_number(value)
    if key == "design_attenuation_factor" and isinstance(value, dict):
        return {k: lenient_number(v) if k == "value" else v for k, v in value.items()}
    return value


def _height(value: Any) -> Any:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return value


def point_line(p: PointEvaluation) -> str:
    factor = p.design_attenuation_factor
    judged = f"E = {p.effective_uSv_h:.4g} uSv/h"
    if factor:
        measured = f"{p.effective_measured_uSv_h:.4g} uSv/h measured"
        judged = f"E = {measured} / K {factor['value']:g} = {p.effective_uSv_h:.4g} uSv/h"
    return (
        f"Point {p.id}: formula {p.formula}, {judged}, limit {p.limit_uSv_h:g} uSv/h, ratio {p.ratio:.3f}"
        f" -> {p.verdict.upper()}"
    )


def formula3_note(profile: Any, variant: str) -> str:
    """One line at a wall point's heights: which reading of formula (3) this survey uses, and why it matters."""
    other = "conservative" if variant == "literal" else "literal"
    return (
        f"Formula (3) is read {variant} here ({profile.formula3[variant].text}); the {other} reading"
        f" ({profile.formula3[other].text}) can give the other verdict: as printed, (3) gives 0.375·D in a uniform"
        " field where formula (4) gives 0.5·D (options.formula3 chooses; the report warns when it decides)"
    )
