"""The protocol report of a survey: HTML (A4 printable), PDF, CSV and JSON.

Every number comes from ``radsurvey.protocols`` on the survey file: the evaluation
(via :func:`radsurvey.daemon.survey.evaluation.evaluate_document`), the formula texts and
the uncertainty budget (``protocols/formulas.py``, ``protocols/uncertainty.py``); the
report only formats them. Labels are translated with gettext catalogues
(``locale/<lang>/LC_MESSAGES/radsurvey.po``), compiled when first used.

The survey evaluation is imported when a report is built, not with the package: every
console page is translated through ``report.i18n``, and a daemon's console that never
prints a report does not keep the evaluation and the shielding tables in memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.formulas import formula_text, normalisation_factor

from .i18n import LANGUAGES, formatter, template_environment, translations
from .pdf import ReportError, prepare_target

if TYPE_CHECKING:
    from radsurvey.protocols.evaluation import PointEvaluation
    from radsurvey.protocols.profiles import Formula3Variant, Profile

FORMATS = ("html", "pdf", "csv", "json")
# Words (and identifiers) up to this many characters are never broken inside a table cell; the tables
# fit A4 with them in every language (tests/integration/test_report_pdf.py). Longer ones may break.
LONGEST_UNBROKEN_WORD = 30


def _version() -> str:
    try:
        return version("radsurvey")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _uncertainty(
    p: PointEvaluation,
    given: dict[str, Any],
    *,
    profile: Profile,
    variant: Formula3Variant,
    workload: float,
    background: list[float] | None,
    error_percent: float,
) -> dict[str, Any]:
    """The GUM budget of one point's E (protocols/uncertainty.py) as report data."""
    from radsurvey.protocols.uncertainty import evaluated_point_uncertainty, repeat_statistics

    current = given.get("anode_current_mA")
    budget = evaluated_point_uncertainty(
        p,
        profile=profile,
        formula3=variant,
        workload_mA_min_per_week=workload,
        anode_current_mA=float(current) if isinstance(current, int | float) else None,
        background_uGy_h=background,
        instrument_error_percent=error_percent,
    )
    per_height = {}
    for h in p.heights:
        stats = repeat_statistics(list(h.readings_uGy_h))
        per_height[str(h.height_cm)] = {"mean_uGy_h": stats.mean, "std_dev_uGy_h": stats.std_dev, "n": stats.n}
    return {
        "per_height": per_height,
        "components": [
            {
                "quantity": c.quantity,
                "std_uncertainty": c.std_uncertainty,
                "sensitivity": c.sensitivity,
                "contribution_uSv_h": c.contribution_uSv_h,
                "type": c.method,
            }
            for c in budget.components
        ],
        "instrument_error_percent": error_percent,
        "combined_uSv_h": budget.combined_uSv_h,
        "coverage_factor": budget.coverage_factor,
        "expanded_uSv_h": budget.expanded_uSv_h,
    }


def _next_survey_due(profile: Any, survey_day: date) -> date | None:
    """The survey day plus the profile's period for rooms (kz-2008-303 p.107(1): quarterly)."""
    from radsurvey.protocols.periods import next_due

    period = profile.control_period("workplace_dose_rate")
    return next_due(survey_day, period.months if period is not None else None)


def _limits_statement(doc: dict[str, Any], profile: Any, source: str) -> tuple[str, dict[str, Any]] | None:
    """The line naming a survey's ``limits_profile`` and whose maths the survey uses (docs/profiles.md).

    (English text for JSON, {"code", "params"} for the translated HTML/PDF sentence in messages.LIMITS).
    """
    from radsurvey.protocols.errors import ProfileError
    from radsurvey.protocols.profiles import find_profile, limits_statement

    ref = doc.get("limits_profile")
    if not ref:
        return None
    try:
        text = limits_statement(str(ref), profile)
        limits = find_profile(str(ref))
    except ProfileError as err:
        raise SurveyError(err.message, source=source, field="limits_profile") from None
    params = {
        "limits": limits.id,
        "limits_version": str(limits.version),
        "survey": profile.id,
        "survey_version": str(profile.version),
    }
    return text, {"code": "with_method" if limits.has_survey_method else "limits_only", "params": params}


def build_context(doc: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Everything a report shows, language-independent: survey, evaluation, profile rows.

    The metadata is validated first; a bad field is a SurveyError naming it, never
    a report printed from unchecked values. Validity comes before the verdict: an
    instrument or survey that breaks App. 14 p.6 or p.32-33 makes the conclusion
    "not_valid" whatever the readings.
    """
    from radsurvey.protocols.profiles import get_profile
    from radsurvey.protocols.uncertainty import decide

    from ..survey.evaluation import evaluate_document
    from ..survey.metadata import check_instruments, document_metadata, validity_problems

    source = source or f"survey {doc.get('id', '')}".strip()
    evaluated = evaluate_document(doc, source=source)
    evaluation = evaluated.to_dict()  # the report is an edge: what its formats print
    profile = get_profile(doc.get("protocol") or "kz-2008-303")
    limits_note = _limits_statement(doc, profile, source)
    checked = document_metadata(doc, source=source)
    meta = checked.model_dump(mode="json")
    variant = evaluated.formula3
    workload = profile.workload(str(doc.get("apparatus")))
    apparatus_type = next(
        (a for a in profile.apparatus_types if a.key == (meta.get("apparatus") or {}).get("type")),
        None,
    )
    reason = next((r for r in profile.survey_reasons if r.key == meta.get("reason")), None)
    survey_day = checked.survey_date or datetime.now(UTC).date()
    validity = validity_problems(checked, profile.instrument, on=survey_day)
    rule = checked.decision_rule
    errors = [i.error_percent for i in checked.instruments if i.error_percent is not None]
    error_percent = max(errors) if errors else float(profile.instrument.basic_error_percent)
    background = [float(v) for v in doc.get("background_uGy_h") or []]
    compensated = bool(doc.get("background_compensated"))
    w = evaluated.workload_mA_min_per_week

    points = []
    readings_by_id = {p["id"]: p for p in doc.get("points") or []}
    for evaluated_point in evaluated.points:
        p = evaluated_point.to_dict()
        given = readings_by_id.get(evaluated_point.id, {})
        cat = profile.category(evaluated_point.category)
        u = _uncertainty(
            evaluated_point,
            given,
            profile=profile,
            variant=variant,
            workload=w,
            background=None if compensated else background,
            error_percent=error_percent,
        )
        rows = []
        current = given.get("anode_current_mA")
        scale = normalisation_factor(profile, w, float(current) if isinstance(current, int | float) else 0.0)
        for h, values in (p.get("heights") or {}).items():
            u_mean = _u_mean(u["per_height"][h]["std_dev_uGy_h"], u["per_height"][h]["n"])
            rows.append(
                {
                    **values,
                    "height_cm": values.get("height_cm", h),
                    "nominal_height_cm": values.get("nominal_height_cm"),
                    "readings": values.get("readings_uGy_h", []),
                    "std_dev_uGy_h": u["per_height"][h]["std_dev_uGy_h"],
                    # for printing only (GUM 7.2.6): the Type A standard uncertainty of the mean, s/sqrt(n),
                    # carried to the normalised value by formula (1)'s factor
                    "u_mean_uGy_h": u_mean,
                    "u_normalised_uGy_h": u_mean * scale if u_mean is not None and scale else None,
                }
            )
        effective = evaluated_point.effective_uSv_h
        limit = evaluated_point.limit_uSv_h
        decision = decide(effective, u["expanded_uSv_h"], limit, rule)
        points.append(
            {
                **p,
                "room": given.get("room", ""),
                "location": given.get("location", ""),
                "kind": given.get("kind", ""),
                "category": given.get("category", p.get("category")),
                "category_description": cat.description if cat else "",
                "anode_current_mA": given.get("anode_current_mA"),
                "anode_voltage_kV": given.get("anode_voltage_kV"),
                "plan_x_m": given.get("plan_x_m"),
                "plan_y_m": given.get("plan_y_m"),
                "formula_text": formula_text(profile, evaluated_point.formula, variant),
                "effective": effective,
                "uncertainty": u,
                "ratio_u": u["expanded_uSv_h"] / limit if limit > 0 else None,
                "decision": decision.verdict,
                "acceptance_limit_uSv_h": decision.acceptance_limit_uSv_h,
                "straddles_limit": decision.straddles_limit,
                "rows": rows,
            }
        )
    failing = [p["id"] for p in points if p["decision"] == "fail"]
    if validity:
        conclusion = "not_valid"
    elif failing:
        conclusion = "does_not_comply"
    else:
        conclusion = "complies"
    validity_texts = {v.text for v in validity} | set(check_instruments(checked, profile.instrument, on=survey_day))
    # The evaluation's warnings (strings, or objects with text/code/paragraph/field: issue 9) hold every
    # point's too; the capture's come from the metadata; instrument problems are validity reasons instead.
    warnings: list[Any] = []
    seen: set[str] = set(validity_texts)
    for w in [*(evaluation.get("warnings") or []), *(meta.get("warnings") or [])]:
        text = str(w.get("text", "")) if isinstance(w, dict) else str(w)
        if text not in seen:
            seen.add(text)
            warnings.append(w)
    return {
        "doc": doc,
        "meta": meta,
        "evaluation": evaluation,
        "points": points,
        "warnings": warnings,
        "validity": validity,
        "conclusion": conclusion,
        "failing_points": failing,
        "straddling_points": [p["id"] for p in points if p["straddles_limit"]],
        "decision_rule": rule,
        "instrument_error_percent": error_percent,
        "instrument_error_from_profile": not errors,
        "next_survey_due": _next_survey_due(profile, survey_day) if conclusion == "complies" else None,
        "conditions_used": _conditions_used(points),
        "audit": meta.get("audit") or [],
        "background": background,
        "background_u_uGy_h": _u_mean(_std_dev(background), len(background)),
        "any_below_background": any(r.get("below_background") for p in points for r in p["rows"]),
        "profile": profile,
        "kinds": {k.key: k.text for k in profile.point_kinds},
        "workload": workload,
        "apparatus_type": apparatus_type,
        "reason": reason,
        "formula3_variant": variant,
        "formula3_text": profile.formula3[variant].text,
        "limits_statement": limits_note[0] if limits_note else None,
        "limits_sentence": limits_note[1] if limits_note else None,
        "generated_at": datetime.now(UTC),
        "version": _version(),
    }


def _std_dev(values: list[float]) -> float | None:
    from radsurvey.protocols.uncertainty import repeat_statistics

    return repeat_statistics(values).std_dev if len(values) > 1 else None


def _u_mean(std_dev: float | None, n: int) -> float | None:
    """s/sqrt(n), the standard uncertainty of a mean of n repeats (Type A), or None (n < 2 or s = 0)."""
    if std_dev is None or n < 2 or std_dev <= 0:
        return None
    return float(std_dev) / math.sqrt(n)


def _conditions_used(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The (U, I) pairs the points were measured with, each with its points, in first-use order."""
    used: dict[tuple[Any, Any], list[str]] = {}
    for p in points:
        used.setdefault((p.get("anode_voltage_kV"), p.get("anode_current_mA")), []).append(p["id"])
    return [{"anode_voltage_kV": u, "anode_current_mA": i, "points": ids} for (u, i), ids in used.items()]


def render_report(
    doc: dict[str, Any],
    *,
    fmt: str = "html",
    lang: str = "en",
    solar_hijri: bool = False,
    source: str | None = None,
) -> str:
    """The report as text (html, csv, json); ``source`` (file or session) names it in errors."""
    if fmt not in FORMATS:
        raise SurveyError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
    if lang not in LANGUAGES:
        raise SurveyError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}", field="lang")
    ctx = build_context(doc, source=source)
    if fmt == "json":
        return render_json(ctx)
    if fmt == "csv":
        return render_csv(ctx, lang=lang)
    if fmt == "html":
        return render_html(ctx, lang=lang, solar_hijri=solar_hijri)
    raise SurveyError("pdf is a file format: use write_report", field="format")


def write_report(
    doc: dict[str, Any],
    out: Path,
    *,
    fmt: str = "html",
    lang: str = "en",
    solar_hijri: bool = False,
    source: str | None = None,
) -> Path:
    if fmt == "pdf":
        from .pdf import html_to_pdf

        html = render_report(doc, fmt="html", lang=lang, solar_hijri=solar_hijri, source=source)
        html_to_pdf(html, out)
        return out
    text = render_report(doc, fmt=fmt, lang=lang, solar_hijri=solar_hijri, source=source)
    prepare_target(out)
    try:
        out.write_text(text, encoding="utf-8", newline="" if fmt == "csv" else None)
    except OSError as err:
        raise ReportError(f"cannot write the report: {err.strerror or err}", source=str(out)) from None
    return out


def render_json(ctx: dict[str, Any]) -> str:
    doc = ctx["doc"]
    return (
        json.dumps(
            {
                "schema": "radsurvey.report/1",
                "survey_id": doc.get("id"),
                "generated_at": ctx["generated_at"].isoformat(timespec="seconds").replace("+00:00", "Z"),
                "radsurvey_version": ctx["version"],
                "protocol": {
                    "id": ctx["profile"].id,
                    "title": ctx["profile"].title,
                    "status": ctx["profile"].status,
                },
                "formula3_variant": ctx["formula3_variant"],
                "limits_statement": ctx["limits_statement"],
                "metadata": ctx["meta"],
                "survey": {k: v for k, v in doc.items() if k != "metadata"},
                "evaluation": ctx["evaluation"],
                "warnings": ctx["warnings"],
                "verdict": ctx["evaluation"]["verdict"],
                "conclusion": ctx["conclusion"],
                "validity": [{"code": v.code, "paragraph": v.paragraph, "text": v.text} for v in ctx["validity"]],
                "decision_rule": ctx["decision_rule"],
                "failing_points": ctx["failing_points"],
                "straddling_points": ctx["straddling_points"],
                "next_survey_due": ctx["next_survey_due"].isoformat() if ctx["next_survey_due"] else None,
                "points": [
                    {
                        "id": p["id"],
                        "effective_uSv_h": p["effective"],
                        "limit_uSv_h": p.get("limit_uSv_h"),
                        "uncertainty": p["uncertainty"],
                        "decision": p["decision"],
                        "acceptance_limit_uSv_h": p["acceptance_limit_uSv_h"],
                        "straddles_limit": p["straddles_limit"],
                        "plan_x_m": p.get("plan_x_m"),
                        "plan_y_m": p.get("plan_y_m"),
                    }
                    for p in ctx["points"]
                ],
                "audit": ctx["audit"],
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        + "\n"
    )


CSV_COLUMNS = (
    "survey",
    "point",
    "room",
    "category",
    "kind",
    "height_cm",
    "readings_uGy_h",
    "mean_uGy_h",
    "net_uGy_h",
    "normalised_uGy_h",
    "below_background",
    "formula",
    "formula_text",
    "effective_uSv_h",
    "limit_uSv_h",
    "ratio",
    "verdict",
    "std_dev_uGy_h",
    "expanded_uncertainty_uSv_h",
    "decision",
    "straddles_limit",
    "conclusion",
    "at",
    "detail",
    # added after 0.1's columns (readers by position keep working): warning rows
    "code",
    "paragraph",
    "field",
)


def render_csv(ctx: dict[str, Any], *, lang: str = "en") -> str:
    """One row per point and height (spreadsheet-friendly; full precision; background first).

    After the points: one ``warning`` row per warning (the sentence the HTML report
    prints, in ``lang``, in ``detail``; its machine ``code``, ``paragraph`` and ``field``
    when the warning has them), one ``conclusion`` row (with each validity problem in
    ``detail``) and one ``audit`` row per retake or edit, with its time in ``at``.
    """
    from .humanise import Humaniser

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    sid = ctx["doc"].get("id", "")
    conclusion = ctx["conclusion"]

    def row(**values: Any) -> None:
        w.writerow([values.get(c, "") for c in CSV_COLUMNS])

    bg = ctx["evaluation"].get("background_uGy_h")
    row(
        survey=sid,
        point="background",
        readings_uGy_h=";".join(repr(v) for v in ctx["background"]),
        mean_uGy_h="" if bg is None else repr(bg),
        conclusion=conclusion,
    )
    for p in ctx["points"]:
        for r in p["rows"]:
            row(
                survey=sid,
                point=p["id"],
                room=p["room"],
                category=p["category"],
                kind=p["kind"],
                height_cm=r["height_cm"],
                readings_uGy_h=";".join(repr(float(v)) for v in r["readings"]),
                mean_uGy_h=repr(r.get("mean_uGy_h")),
                net_uGy_h=repr(r.get("net_uGy_h")),
                normalised_uGy_h=repr(r.get("normalised_uGy_h")),
                below_background="yes" if r.get("below_background") else "no",
                formula=p.get("formula"),
                formula_text=p["formula_text"],
                effective_uSv_h=repr(p["effective"]),
                limit_uSv_h=repr(p.get("limit_uSv_h")),
                ratio=repr(p.get("ratio")),
                verdict=p.get("verdict"),
                std_dev_uGy_h=repr(r["std_dev_uGy_h"]),
                expanded_uncertainty_uSv_h=repr(p["uncertainty"]["expanded_uSv_h"]),
                decision=p["decision"],
                straddles_limit="yes" if p["straddles_limit"] else "no",
                conclusion=conclusion,
            )
    t = translations(lang)
    fmt = formatter(lang, timezone=ctx["meta"].get("timezone") or "")
    human = Humaniser(t.gettext, fmt.number, fmt.date, fmt.digits)
    for warning in ctx["warnings"]:
        given = warning if isinstance(warning, dict) else {}
        row(
            survey=sid,
            point="warning",
            conclusion=conclusion,
            detail=str(human.sentence(warning)),
            code=given.get("code") or "",
            paragraph=given.get("paragraph") or "",
            field=given.get("field") or "",
        )
    detail = "; ".join(v.text for v in ctx["validity"]) or f"decision rule: {ctx['decision_rule']}"
    row(survey=sid, point="conclusion", verdict=ctx["evaluation"].get("verdict"), conclusion=conclusion, detail=detail)
    for e in ctx["audit"]:
        if e.get("action") == "discarded":
            text = "discarded " + ";".join(repr(float(v)) for v in e.get("readings_uGy_h") or [])
            text += " read at " + ";".join(e.get("read_at") or [])
        else:
            text = f"{e.get('field')}: {e.get('old')!r} -> {e.get('new')!r}"
        row(
            survey=sid,
            point="audit",
            room=e.get("point") or "background",
            kind=e.get("action"),
            height_cm="" if e.get("height_cm") is None else e.get("height_cm"),
            readings_uGy_h=";".join(repr(float(v)) for v in e.get("readings_uGy_h") or []),
            at=e.get("at"),
            detail=text,
            conclusion=conclusion,
        )
    return buf.getvalue()


def _css_string(text: str) -> str:
    """``text`` as a CSS string literal that is also safe inside <style>."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("<", "\\3C ").replace("\n", " ")
    return f'"{out}"'


def _page_counter_css(template: str, lang: str) -> str:
    """The translated "Page %(page)s of %(pages)s" as CSS ``content`` with page counters."""
    style = ", persian" if lang == "fa" else ""
    parts = []
    for piece in re.split(r"(%\(pages?\)s)", template):
        if piece == "%(page)s":
            parts.append(f"counter(page{style})")
        elif piece == "%(pages)s":
            parts.append(f"counter(pages{style})")
        elif piece:
            parts.append(_css_string(piece))
    return " ".join(parts)


def render_html(ctx: dict[str, Any], *, lang: str, solar_hijri: bool = False) -> str:
    from markupsafe import Markup, escape

    from .humanise import Humaniser
    from .messages import AUDIT_ACTIONS, CONCLUSIONS, DECISION_RULES, PAGE
    from .sketch import plan_svg

    t = translations(lang)
    env = template_environment(t)
    _ = t.gettext
    fmt = formatter(lang, solar_hijri=solar_hijri, timezone=ctx["meta"].get("timezone") or "")

    def unit(text: str) -> Markup:
        """A unit symbol kept on one line ("мкГр/ч"); a unit written in words (Persian) may wrap."""
        if " " in str(text).strip():
            return Markup(escape(text))
        return Markup(f'<span class="u">{escape(text)}</span>')

    def token(text: Any) -> Markup:
        """An identifier (serial, certificate number) kept on one line unless too long to fit a cell."""
        value = str(text or "")
        kind = "tok" if len(value) <= LONGEST_UNBROKEN_WORD else "t"
        return Markup(f'<bdi dir="ltr" class="{kind}">{escape(value)}</bdi>')

    def free(text: Any) -> Markup:
        """Free text typed by a person: whole words, unless a word is too long for any table column."""
        value = str(text or "")
        longest = max((len(w) for w in value.split()), default=0)
        kind = ' class="t"' if longest > LONGEST_UNBROKEN_WORD else ""
        return Markup(f"<bdi{kind}>{escape(value)}</bdi>")

    def label(text: str) -> Markup:
        """A translated header "Name, unit": the unit kept on one line."""
        head, sep, tail = str(text).rpartition(", ")
        if not sep:
            return Markup(escape(text))
        return Markup(f"{escape(head)}, {unit(tail)}")

    env.filters["num"] = fmt.number
    env.filters["measured"] = fmt.measured
    env.filters["uncertainty"] = fmt.uncertainty
    env.filters["token"] = token
    env.filters["free"] = free
    env.filters["day"] = fmt.date
    env.filters["digits"] = fmt.digits
    env.filters["time_span"] = fmt.time_span
    env.filters["moment"] = fmt.moment
    env.filters["formula"] = fmt.formula
    env.filters["label"] = label
    env.filters["unit"] = unit
    human = Humaniser(_, fmt.number, fmt.date, fmt.digits)
    env.filters["cite"] = human.cite
    env.filters["field_name"] = human.field_name
    number = str(ctx["meta"].get("protocol_number") or ctx["doc"].get("id", ""))
    sketch = plan_svg(
        ctx["points"],
        ctx["meta"].get("plan_outline_m") or [],
        legend={"pass": _("complies"), "fail": _("does not comply"), "metre": f"1 {_('m')}", "title": _("Room plan")},
    )
    return env.get_template("report.html.j2").render(
        **ctx,
        lang=lang,
        dir="rtl" if lang == "fa" else "ltr",
        review_note=lang not in ("en", "ru"),
        solar_hijri=solar_hijri,
        today=date.today(),
        protocol_number=number,
        page_header_css=_css_string(f"{_('Protocol number')} {number}"),
        page_footer_css=_page_counter_css(_(PAGE), lang),
        validity_texts=[human.validity(v.code, v.params) for v in ctx["validity"]],
        warning_texts=[str(human.sentence(w)) for w in ctx["warnings"]],
        conclusion_word=_(CONCLUSIONS[ctx["conclusion"]]),
        decision_rule_text=_(DECISION_RULES[ctx["decision_rule"]]),
        audit_actions={k: _(v) for k, v in AUDIT_ACTIONS.items()},
        sketch=Markup(sketch) if sketch else None,
        limits_text=_limits_text(ctx["limits_sentence"], _, fmt.digits),
    )


def _limits_text(sentence: dict[str, Any] | None, gettext: Any, digits: Any) -> Any:
    """The translated limits statement, profile ids and versions isolated left-to-right (Persian)."""
    from markupsafe import Markup, escape

    from .messages import LIMITS

    if not sentence:
        return None
    params = {
        k: Markup('<bdi dir="ltr">{}</bdi>').format(digits(v) if k.endswith("version") else v)
        for k, v in sentence["params"].items()
    }
    return Markup(escape(gettext(LIMITS[sentence["code"]]))) % params
