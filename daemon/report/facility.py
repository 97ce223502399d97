"""The facility file: the register, what is due, surveys, holds, incidents and inspections as HTML or PDF.

The same machinery as the protocol report (gettext catalogues, number and date
formats, right-to-left Persian, headless Chromium for PDF); the data is
``daemon.facility.views.facility_file``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import SurveyError

from .i18n import LANGUAGES, formatter, translations
from .messages import CONCLUSIONS, FACILITY_CAUSES, INSPECTION_RESULTS, PAGE
from .pdf import ReportError, prepare_target

FACILITY_FORMATS = ("html", "pdf")


def render_facility_html(data: dict[str, Any], *, lang: str = "en", solar_hijri: bool = False) -> str:
    import jinja2
    from markupsafe import Markup, escape

    from . import _page_counter_css

    if lang not in LANGUAGES:
        raise SurveyError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}", field="lang")
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("radsurvey.daemon.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    t = translations(lang)
    env.install_gettext_translations(t, newstyle=False)  # type: ignore[attr-defined]
    _ = t.gettext
    fmt = formatter(lang, solar_hijri=solar_hijri)
    env.filters["free"] = lambda v: Markup(f"<bdi>{escape(str(v or ''))}</bdi>")
    env.filters["token"] = lambda v: Markup(f'<bdi dir="ltr">{escape(str(v or ""))}</bdi>')
    env.filters["day"] = fmt.date
    env.filters["moment"] = fmt.moment
    env.filters["digits"] = fmt.digits
    env.filters["num"] = fmt.number
    return env.get_template("facility.html.j2").render(
        **{k: v for k, v in data.items() if k != "today"},
        lang=lang,
        dir="rtl" if lang == "fa" else "ltr",
        today=date.fromisoformat(data["today"]),
        page_footer_css=_page_counter_css(_(PAGE), lang),
        conclusions={k: _(v) for k, v in CONCLUSIONS.items()},
        causes={k: _(v) for k, v in FACILITY_CAUSES.items()},
        results={k: _(v) for k, v in INSPECTION_RESULTS.items()},
    )


def write_facility_file(data: dict[str, Any], out: Path, *, fmt: str = "html", lang: str = "en") -> Path:
    """The facility file as ``out`` (html or pdf)."""
    if fmt not in FACILITY_FORMATS:
        raise SurveyError(f"unknown format {fmt!r}; use html or pdf", field="format")
    html = render_facility_html(data, lang=lang)
    if fmt == "pdf":
        from .pdf import html_to_pdf

        return html_to_pdf(html, out)
    prepare_target(out)
    try:
        out.write_text(html, encoding="utf-8")
    except OSError as err:
        raise ReportError(f"cannot write the facility file: {err.strerror or err}", source=str(out)) from None
    return out
