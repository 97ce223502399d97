"""The survey journal: every survey with its verdict, and its reports in every format and language."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from ..base import CONSOLE, Console, json_error, json_ok


def _surveys(path: Path) -> list[dict[str, Any]]:
    """Every survey session with its verdict, evaluated exactly as its report would be."""
    from radsurvey.protocols.errors import RadsurveyError

    from ...survey.evaluation import evaluate_document
    from ...survey.store import SurveyStore

    out = []
    with SurveyStore(path) as store:  # only its reading methods are used here
        for s in store.list_surveys():
            s["verdict"], s["evaluated_points"] = None, 0
            if not s["problem"]:
                try:
                    result = evaluate_document(store.get(s["id"]).document(), source=f"survey {s['id']}")
                    s["verdict"], s["evaluated_points"] = result["verdict"], len(result["points"])
                except RadsurveyError as err:
                    s["not_evaluated"] = str(err)  # unfinished: too few readings, no background, ...
            out.append(s)
    return out


async def surveys_api(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return json_ok({"surveys": await asyncio.to_thread(_surveys, console.journal_path)})


async def surveys_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    from ...report import FORMATS
    from ...report.i18n import LANGUAGES

    return console.page(
        request,
        "surveys.html.j2",
        surveys=await asyncio.to_thread(_surveys, console.journal_path),
        formats=FORMATS,
        report_langs=LANGUAGES,
    )


async def survey_report(request: web.Request) -> web.StreamResponse:
    from radsurvey.protocols.errors import RadsurveyError

    from ...report import FORMATS, render_report, write_report
    from ...report.i18n import LANGUAGES

    console: Console = request.app[CONSOLE]
    survey_id = request.match_info["survey"]
    fmt = request.query.get("format", "html")
    lang = request.query.get("lang", console.lang(request))
    if fmt not in FORMATS:
        raise json_error(400, f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        raise json_error(400, f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")

    def _render() -> bytes:
        from ...survey.store import SurveyStore

        with SurveyStore(console.journal_path) as store:
            doc = store.get(survey_id).document()
        source = f"survey {survey_id}"
        if fmt == "pdf":
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "report.pdf"
                write_report(doc, out, fmt="pdf", lang=lang, source=source)
                return out.read_bytes()
        return render_report(doc, fmt=fmt, lang=lang, source=source).encode()

    try:
        data = await asyncio.to_thread(_render)
    except RadsurveyError as err:
        status = 404 if "no survey" in str(err) else 409
        raise json_error(status, str(err)) from None
    types = {"html": "text/html", "pdf": "application/pdf", "csv": "text/csv", "json": "application/json"}
    disposition = "inline" if fmt == "html" else "attachment"
    resp = web.Response(
        body=data,
        content_type=types[fmt],
        charset=None if fmt == "pdf" else "utf-8",
        headers={"Content-Disposition": f'{disposition}; filename="{survey_id}-{lang}.{fmt}"'},
    )
    if fmt == "html":
        # The report is a self-contained document with its own inline styles.
        resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return resp
