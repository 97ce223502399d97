"""The protocol report of a survey: HTML (A4 printable), PDF, CSV and JSON.

Every number comes from ``radsurvey.protocols.evaluation.evaluate`` on the
survey file (via :func:`radsurvey.daemon.survey.evaluation.evaluate_document`);
the report only formats it. Labels are translated with gettext catalogues
(``locale/<lang>/LC_MESSAGES/radsurvey.po``), compiled when first used.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import SurveyError

from ..survey.evaluation import evaluate_document
from ..survey.metadata import check_instruments, document_metadata
from .i18n import LANGUAGES, formatter, translations
from .pdf import ReportError, prepare_target

FORMATS = ("html", "pdf", "csv", "json")


def _version() -> str:
    try:
        return version("radsurvey")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def _formula_text(profile: Any, formula: str, variant: str) -> str:
    f = str(formula)
    if "3" in f:
        return profile.formula3[variant].text
    if "4" in f:
        return profile.formula4.text
    if "2" in f:
        w = profile.height_weights.weights
        terms = " + ".join(f"{w[h]:g}*D{h}" for h in sorted(w, reverse=True))
        return f"E = {profile.effective_conversion.value:g} * ({terms})"
    return f


def _limits_statement(doc: dict[str, Any], profile: Any, source: str) -> str | None:
    """The one line naming a survey's ``limits_profile`` and whose maths the survey uses (docs/profiles.md)."""
    from radsurvey.protocols.errors import ProfileError
    from radsurvey.protocols.profiles import limits_statement

    ref = doc.get("limits_profile")
    if not ref:
        return None
    try:
        return limits_statement(str(ref), profile)
    except ProfileError as err:
        raise SurveyError(err.message, source=source, field="limits_profile") from None


def build_context(doc: dict[str, Any], *, source: str | None = None) -> dict[str, Any]:
    """Everything a report shows, language-independent: survey, evaluation, profile rows.

    The metadata is validated first; a bad field is a SurveyError naming it, never
    a report printed from unchecked values.
    """
    from radsurvey.protocols.profiles import get_profile

    source = source or f"survey {doc.get('id', '')}".strip()
    evaluation = evaluate_document(doc, source=source)
    profile = get_profile(doc.get("protocol") or "kz-2008-303")
    limits_note = _limits_statement(doc, profile, source)
    checked = document_metadata(doc, source=source)
    meta = checked.model_dump(mode="json")
    variant = str((doc.get("options") or {}).get("formula3", "literal"))
    workload = profile.workload(str(doc.get("apparatus")))
    apparatus_type = next(
        (a for a in profile.apparatus_types if a.key == (meta.get("apparatus") or {}).get("type")),
        None,
    )
    reason = next((r for r in profile.survey_reasons if r.key == meta.get("reason")), None)

    points = []
    readings_by_id = {p["id"]: p for p in doc.get("points") or []}
    for p in evaluation["points"]:
        given = readings_by_id.get(p["id"], {})
        cat = profile.category(int(given.get("category") or p.get("category") or 0))
        rows = []
        for h, values in (p.get("heights") or {}).items():
            rows.append({"height_cm": h, "readings": values.get("readings_uGy_h", []), **values})
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
                "formula_text": _formula_text(profile, p.get("formula", ""), variant),
                "rows": rows,
            }
        )
    warnings = list(evaluation.get("warnings") or [])
    warnings += [w for w in meta.get("warnings") or [] if w not in warnings]
    # The instrument check again, on the survey date (a hand-written file never had it).
    on = checked.survey_date or datetime.now(UTC).date()
    warnings += [w for w in check_instruments(checked, profile.instrument, on=on) if w not in warnings]
    background = [float(v) for v in doc.get("background_uGy_h") or []]
    return {
        "doc": doc,
        "meta": meta,
        "evaluation": evaluation,
        "points": points,
        "warnings": warnings,
        "background": background,
        "any_below_background": any(r.get("below_background") for p in points for r in p["rows"]),
        "profile": profile,
        "kinds": {k.key: k.text for k in profile.point_kinds},
        "workload": workload,
        "apparatus_type": apparatus_type,
        "reason": reason,
        "formula3_variant": variant,
        "formula3_text": profile.formula3[variant].text,
        "limits_statement": limits_note,
        "generated_at": datetime.now(UTC),
        "version": _version(),
    }


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
        return render_csv(ctx)
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
)


def render_csv(ctx: dict[str, Any]) -> str:
    """One row per point and height (spreadsheet-friendly; full precision; background first)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    sid = ctx["doc"].get("id", "")
    bg = ctx["evaluation"].get("background_uGy_h")
    w.writerow(
        [
            sid,
            "background",
            "",
            "",
            "",
            "",
            ";".join(repr(v) for v in ctx["background"]),
            "" if bg is None else repr(bg),
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
        ]
    )
    for p in ctx["points"]:
        for row in p["rows"]:
            w.writerow(
                [
                    sid,
                    p["id"],
                    p["room"],
                    p["category"],
                    p["kind"],
                    row["height_cm"],
                    ";".join(repr(float(v)) for v in row["readings"]),
                    repr(row.get("mean_uGy_h")),
                    repr(row.get("net_uGy_h")),
                    repr(row.get("normalised_uGy_h")),
                    "yes" if row.get("below_background") else "no",
                    p.get("formula"),
                    p["formula_text"],
                    repr(p.get("effective_dose_rate_uSv_h")),
                    repr(p.get("limit_uSv_h")),
                    repr(p.get("ratio")),
                    p.get("verdict"),
                ]
            )
    return buf.getvalue()


def render_html(ctx: dict[str, Any], *, lang: str, solar_hijri: bool = False) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radsurvey.daemon.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(lang), newstyle=False)  # type: ignore[attr-defined]
    fmt = formatter(lang, solar_hijri=solar_hijri)
    env.filters["num"] = fmt.number
    env.filters["day"] = fmt.date
    env.filters["digits"] = fmt.digits
    env.filters["time_span"] = fmt.time_span
    return env.get_template("report.html.j2").render(
        **ctx,
        lang=lang,
        dir="rtl" if lang == "fa" else "ltr",
        review_note=lang not in ("en", "ru"),
        solar_hijri=solar_hijri,
        today=date.today(),
    )
