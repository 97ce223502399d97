"""The survey journal: every survey with its verdict, and its reports in every format and language."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .. import http
from ..base import REPORT_CACHE, REPORT_QUEUE, Console, json_error, json_ok


def _surveys(path: Path) -> list[dict[str, Any]]:
    """Every survey session with its verdict, evaluated exactly as its report would be."""
    from radsurvey.protocols.errors import RadsurveyError

    from ...survey.store import SurveyStore

    out = []
    with SurveyStore(path) as store:  # only its reading methods are used here
        for s in store.list_surveys():
            s["verdict"], s["evaluated_points"] = None, 0
            if not s["problem"]:
                # Imported for the first survey: a fixed monitor's console, which has none, never loads it.
                from ...survey.evaluation import evaluate_document

                try:
                    result = evaluate_document(store.get(s["id"]).document(), source=f"survey {s['id']}")
                    s["verdict"], s["evaluated_points"] = result.verdict, len(result.points)
                except RadsurveyError as err:
                    s["not_evaluated"] = str(err)  # unfinished: too few readings, no background, ...
            out.append(s)
    return out


async def surveys_api(request: http.Request) -> http.Response:
    """The survey sessions of this machine's journal, and every survey filed in the facility record."""
    from .facility import facility_path, filed_surveys

    console: Console = request.app
    return json_ok(
        {
            "surveys": await asyncio.to_thread(_surveys, console.journal_path),
            "filed": await asyncio.to_thread(filed_surveys, facility_path(console)),
        }
    )


async def surveys_page(request: http.Request) -> http.Response:
    console: Console = request.app
    from ...report import FORMATS
    from ...report.i18n import LANGUAGES
    from .facility import facility_path, filed_surveys

    return console.page(
        request,
        "surveys.html.j2",
        surveys=await asyncio.to_thread(_surveys, console.journal_path),
        filed=await asyncio.to_thread(filed_surveys, facility_path(console)),
        formats=FORMATS,
        report_langs=LANGUAGES,
    )


async def survey_report(request: http.Request) -> http.Response:
    """A survey's report. Who may: ``[web] reports`` ('login' by default, even on an open console).

    Rendered one at a time (a PDF starts a headless Chromium): at most ``REPORT_QUEUE`` requests wait,
    beyond that 503 with Retry-After. Rendered reports are kept by survey content, format and language,
    so asking again for an unchanged survey renders nothing.
    """
    import hashlib
    import json

    from radsurvey.protocols.errors import RadsurveyError

    from ...report import FORMATS, render_report, write_report
    from ...report.i18n import LANGUAGES

    console: Console = request.app
    if console.web_cfg.reports == "login" and console.session(request) is None:
        if "text/html" in request.headers.get("Accept", ""):  # a browser following the page's form
            from urllib.parse import quote

            return http.see_other(f"/login?next={quote(request.path_qs, safe='/?=&')}")
        raise json_error(401, "login required to download reports ([web] reports = 'login')")
    survey_id = request.match_info["survey"]
    fmt = request.query.get("format", "html")
    lang = request.query.get("lang", console.lang(request))
    if fmt not in FORMATS:
        raise json_error(400, f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        raise json_error(400, f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")

    def _document() -> dict[str, Any]:
        from ...survey.store import SurveyStore
        from .facility import facility_path, filed_document

        with SurveyStore(console.journal_path) as store:
            if store.exists(survey_id):
                return store.get(survey_id).document()
        filed = filed_document(facility_path(console), survey_id)  # a survey filed in the facility record
        if filed is not None:
            return filed
        with SurveyStore(console.journal_path) as store:
            return store.get(survey_id).document()  # the journal's "no survey ..." error

    def _render(doc: dict[str, Any]) -> bytes:
        source = f"survey {survey_id}"
        if fmt == "pdf":
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "report.pdf"
                write_report(doc, out, fmt="pdf", lang=lang, source=source)
                return out.read_bytes()
        return render_report(doc, fmt=fmt, lang=lang, source=source).encode()

    if console.reports_waiting >= REPORT_QUEUE + 1:  # one rendering, REPORT_QUEUE waiting
        raise json_error(503, "reports are being rendered; try again in a moment", headers={"Retry-After": "5"})
    console.reports_waiting += 1
    try:
        async with console.report_lock:
            try:
                doc = await asyncio.to_thread(_document)
            except RadsurveyError as err:
                # The message names the survey, never the journal's path on this machine.
                status = 404 if "no survey" in err.message else 409
                raise json_error(status, err.message) from None
            digest = hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()
            key = (survey_id, digest, fmt, lang)
            data = console.report_cache.get(key)
            if data is None:
                try:
                    data = await asyncio.to_thread(_render, doc)
                except RadsurveyError as err:
                    raise json_error(409, err.message) from None
                console.report_cache[key] = data
                while len(console.report_cache) > REPORT_CACHE:
                    console.report_cache.popitem(last=False)
            else:
                console.report_cache.move_to_end(key)
    finally:
        console.reports_waiting -= 1
    types = {"html": "text/html", "pdf": "application/pdf", "csv": "text/csv", "json": "application/json"}
    disposition = "inline" if fmt == "html" else "attachment"
    resp = http.Response(
        data,
        content_type=types[fmt],
        charset=None if fmt == "pdf" else "utf-8",
        headers={"Content-Disposition": f'{disposition}; filename="{survey_id}-{lang}.{fmt}"'},
    )
    if fmt == "html":
        # The report is a self-contained document with its own inline styles.
        resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return resp
