"""The facility record in the console: what is due and on hold, the register, a survey filed over the API.

``GET /facility`` and its twin ``GET /api/facility``; ``POST /api/facility/surveys`` files a survey
document under a room (a logged-in account with the role ``surveyor`` or ``hpo`` in the record, with
the session's CSRF token); ``GET /facility/report`` is the facility file (html or pdf, five languages).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import structlog

from .. import http
from ..base import Console, json_error, json_ok

log = structlog.get_logger("radsurvey.web")
T = TypeVar("T")


def facility_path(console: Console) -> Path:
    """The record the daemon keeps: ``[facility] path``, by default facility.sqlite beside the journal."""
    from radsurvey.config.schema import FacilityConfig

    path: Path = (console.cfg.facility or FacilityConfig()).resolved_path(console.journal_path)
    return path


def read_facility(path: Path) -> dict[str, Any] | None:
    """Everything the facility page shows; None while there is no record."""
    from ...facility.store import FacilityStore
    from ...facility.views import facility_file

    if not path.exists():
        return None
    with FacilityStore(path, readonly=True) as store:
        return facility_file(store)


def filed_surveys(path: Path) -> list[dict[str, Any]]:
    """The surveys filed in the record (for the Surveys page), oldest first."""
    from ...facility.store import FacilityStore

    if not path.exists():
        return []
    with FacilityStore(path, readonly=True) as store:
        return store.surveys()


def filed_document(path: Path, survey_id: str) -> dict[str, Any] | None:
    from ...facility.store import FacilityStore

    if not path.exists():
        return None
    with FacilityStore(path, readonly=True) as store:
        return store.survey_document(survey_id)


async def _change(console: Console, user: str, roles: tuple[str, ...], change: Callable[[Any], T]) -> T:
    """Run one change of the record on a worker thread as ``user``, who must hold one of ``roles`` in it.

    403 for an account without the role, 400 with the one line of a refused change (nothing stored), 409
    while there is no record.
    """
    from ...facility.model import FacilityError
    from ...facility.record import require_role
    from ...facility.store import FacilityStore

    path = facility_path(console)
    if not path.exists():
        raise json_error(409, "no facility record yet (radsurvey facility import)")

    def _run() -> T:
        with FacilityStore(path) as store:
            try:
                require_role(store, user, *roles)
            except FacilityError as err:
                raise PermissionError(err.message) from None
            return change(store)

    try:
        return await asyncio.to_thread(_run)
    except PermissionError as err:
        raise json_error(403, str(err)) from None
    except FacilityError as err:
        raise json_error(400, str(err)) from None


async def facility_api(request: http.Request) -> http.Response:
    console: Console = request.app
    data = await asyncio.to_thread(read_facility, facility_path(console))
    if data is None:
        raise json_error(404, "no facility record yet (radsurvey facility import)")
    return json_ok(data)


async def facility_page(request: http.Request) -> http.Response:
    from ...report.i18n import LANGUAGES

    console: Console = request.app
    data = await asyncio.to_thread(read_facility, facility_path(console))
    monitors = sorted({m for r in (data or {}).get("rooms", []) for m in r.get("monitors") or []})
    return console.page(request, "facility.html.j2", record=data, report_langs=LANGUAGES, monitors=monitors)


async def file_survey_api(request: http.Request) -> http.Response:
    """File a survey document pushed from a laptop: ``{"room", "apparatus"?, "survey": {...}}``."""
    from ...facility.record import file_survey

    console: Console = request.app
    session = console.session(request)
    assert session is not None  # the middleware refused the request otherwise
    try:
        body = request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("survey"), dict) or not isinstance(body.get("room"), str):
        raise json_error(400, 'body must be {"room": ..., "survey": {a radsurvey.survey/1 document}}')
    apparatus = body.get("apparatus")
    if apparatus is not None and not isinstance(apparatus, str):
        raise json_error(400, "apparatus must be the apparatus's id in the register")
    filed = await _change(
        console,
        session.user,
        ("surveyor", "hpo"),
        lambda store: file_survey(
            store,
            body["survey"],
            room=body["room"],
            by=session.user,
            source="the pushed survey",
            origin="api",
            apparatus=apparatus,
        ),
    )
    log.info(
        "survey filed over the API",
        survey=filed.survey_id,
        room=filed.room,
        by=session.user,
        conclusion=filed.conclusion,
    )
    return json_ok(
        {
            "survey": filed.survey_id,
            "room": filed.room,
            "conclusion": filed.conclusion,
            "survey_date": filed.survey_date.isoformat(),
            "hold": filed.held,
            "holds_lifted": filed.lifted,
            "already_filed": filed.already,
        },
        status=200 if filed.already else 201,
    )


async def facility_report(request: http.Request) -> http.Response:
    """The facility file (``format`` html or pdf, ``lang``): who may is ``[web] reports``, as for protocols."""
    from radsurvey.protocols.errors import RadsurveyError

    from ...report.facility import FACILITY_FORMATS, render_facility_html, write_facility_file
    from ...report.i18n import LANGUAGES

    console: Console = request.app
    if console.web_cfg.reports == "login" and console.session(request) is None:
        raise json_error(401, "login required to download reports ([web] reports = 'login')")
    fmt = request.query.get("format", "html")
    lang = request.query.get("lang", console.lang(request))
    if fmt not in FACILITY_FORMATS:
        raise json_error(400, f"unknown format {fmt!r}; use html or pdf")
    if lang not in LANGUAGES:
        raise json_error(400, f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")
    data = await asyncio.to_thread(read_facility, facility_path(console))
    if data is None:
        raise json_error(404, "no facility record yet (radsurvey facility import)")

    def _render() -> bytes:
        if fmt == "pdf":
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "facility.pdf"
                write_facility_file(data, out, fmt="pdf", lang=lang)
                return out.read_bytes()
        return render_facility_html(data, lang=lang).encode()

    async with console.report_lock:
        try:
            body = await asyncio.to_thread(_render)
        except RadsurveyError as err:
            raise json_error(409, err.message) from None
    resp = http.Response(
        body,
        content_type="application/pdf" if fmt == "pdf" else "text/html",
        charset=None if fmt == "pdf" else "utf-8",
        headers={
            "Content-Disposition": f'{"attachment" if fmt == "pdf" else "inline"}; filename="facility-{lang}.{fmt}"'
        },
    )
    if fmt == "html":
        resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return resp


async def open_incident_api(request: http.Request) -> http.Response:
    """Open an incident from a channel's latched alarm (``{"channel", "rule"?, "description"?}``, or the page's form).

    Who may: an account with the role ``hpo`` in the record. The room goes on hold.
    """
    from ...facility.incidents import open_incident

    console: Console = request.app
    session = console.session(request)
    assert session is not None  # the middleware refused the request otherwise
    form = request.content_type != "application/json"
    try:
        body: Any = request.form() if form else request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("channel"), str):
        raise json_error(400, 'body must be {"channel": ..., "rule": ..., "description": ...}')
    rule = body.get("rule") or None
    description = body.get("description") or ""
    if (rule is not None and not isinstance(rule, str)) or not isinstance(description, str) or len(description) > 500:
        raise json_error(400, "rule must be a rule name and description text of at most 500 characters")
    if console.journal is not None:
        await console.journal.aflush()  # the latched alarm's event and samples are committed
    incident = await _change(
        console,
        session.user,
        ("hpo",),
        lambda store: open_incident(
            store,
            journal_path=console.journal_path,
            channel=body["channel"],
            by=session.user,
            rule=rule,
            description=description.strip(),
        ),
    )
    log.info("incident opened in the console", incident=incident, channel=body["channel"], by=session.user)
    if form:
        return http.see_other("/facility")
    return json_ok({"incident": incident}, status=201)


REGISTER_FORMS = {"room", "apparatus", "instrument", "equipment"}


async def register_api(request: http.Request) -> http.Response:
    """Add or change one register record (``/api/facility/register/{entity}``: a JSON object, or the page's form).

    Who may: an account with the role ``hpo``. Validated whole, as the CLI and the facility file are; the
    history names the account.
    """
    from ...facility.record import put_record

    console: Console = request.app
    session = console.session(request)
    assert session is not None  # the middleware refused the request otherwise
    entity = request.match_info["entity"]
    if entity not in REGISTER_FORMS:
        raise json_error(404, f"no register {entity!r}; registers: {', '.join(sorted(REGISTER_FORMS))}")
    form = request.content_type != "application/json"
    try:
        body: Any = request.form() if form else request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise json_error(400, "body must be a JSON object of the record's fields")
    data = {k: v for k, v in body.items() if k != "csrf" and v != ""}
    if form and isinstance(data.get("monitors"), str):  # the page's form: comma-separated channels
        data["monitors"] = [m.strip() for m in data["monitors"].split(",") if m.strip()]
    result = await _change(
        console, session.user, ("hpo",), lambda store: put_record(store, entity, data, by=session.user)
    )
    log.info("facility register changed in the console", entity=entity, by=session.user, result=result)
    if form:
        return http.see_other("/facility")
    return json_ok({"entity": entity, "result": result})
