"""The console's HTTP routes: every page has a JSON twin under ``/api`` (docs/web.md).

The JSON API is the contract; pages are thin Jinja views of the same data and
one small script (``static/console.js``) that keeps them live over SSE.
"""

from __future__ import annotations

import asyncio
import contextvars
import csv
import io
import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from .. import journal_query
from ..journal import connect
from .auth import LoginLimiter, Session, Sessions, UsersFile
from .live import LiveState
from .memory import release_freed_memory
from .text import WRONG_LOGIN, script_words

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig
    from radsurvey.config.web import WebConfig

    from ..alarms.service import AlarmService
    from ..journal import Journal

log = structlog.get_logger("radsurvey.web")

SESSION_COOKIE = "radsurvey_session"
LOGIN_CSRF_COOKIE = "radsurvey_login_csrf"
LANG_COOKIE = "radsurvey_lang"
LANGS = ("en", "ru")
MAX_COMMENT = 500
SSE_KEEPALIVE_S = 15.0
_PAGE_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("radsurvey_web_page_lang", default="en")

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Console:
    """Everything the handlers share: config, live state, journal path, accounts, sessions."""

    def __init__(
        self,
        cfg: DaemonConfig,
        web_cfg: WebConfig,
        *,
        live: LiveState,
        journal_path: Path,
        users: UsersFile,
        alarms: AlarmService | None,
        journal: Journal | None = None,
    ):
        self.cfg = cfg
        self.web_cfg = web_cfg
        self.live = live
        self.journal_path = journal_path
        self.users = users
        self.alarms = alarms
        self.journal = journal
        self.sessions = Sessions(idle_s=web_cfg.session_idle_s)
        self.limiter = LoginLimiter(web_cfg.login_attempts, web_cfg.login_window_s)
        self._env: Any = None  # the Jinja environment, made at the first page

    # -- helpers ------------------------------------------------------------------------------

    def env(self, lang: str) -> Any:
        """The one Jinja environment: pages in every language share its compiled templates.

        Its gettext and number filters follow :data:`_PAGE_LANG`, which :meth:`page` sets around each
        (synchronous) render, so a template (and an imported macro module) is compiled once, not per language.
        """
        _PAGE_LANG.set(lang)
        if self._env is None:
            import jinja2

            from ..report.i18n import formatter, translations

            numbers: dict[str, Any] = {}

            def number(v: Any, spec: str) -> str:
                current = _PAGE_LANG.get()
                if current not in numbers:
                    numbers[current] = formatter(current).number
                text: str = numbers[current](v, spec)
                return text

            env = jinja2.Environment(
                loader=jinja2.PackageLoader(__name__.rsplit(".", 1)[0], "templates"),
                autoescape=True,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_callables(  # type: ignore[attr-defined]
                lambda message: translations(_PAGE_LANG.get()).gettext(message),
                lambda singular, plural, n: translations(_PAGE_LANG.get()).ngettext(singular, plural, n),
                newstyle=True,
            )
            env.filters["num"] = lambda v: number(v, _dose_spec(v))
            env.filters["exact"] = lambda v: "—" if v is None else number(v, ".6g")
            self._env = env
        return self._env

    def lang(self, request: web.Request) -> str:
        asked = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
        return asked if asked in LANGS else self.web_cfg.language

    def session(self, request: web.Request) -> Session | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def page(self, request: web.Request, template: str, **ctx: Any) -> web.Response:
        from ..report.i18n import translations

        lang = self.lang(request)
        session = self.session(request)
        gettext = translations(lang).gettext
        env = self.env(lang)
        compiled = len(env.cache) if env.cache is not None else 0
        body = env.get_template(template).render(
            lang=lang,
            langs=LANGS,
            site=self.cfg.site,
            user=session.user if session else None,
            csrf=session.csrf if session else "",
            words=script_words(gettext),
            path=request.path,
            view_login=self.web_cfg.view == "login",
            **ctx,
        )
        if env.cache is not None and len(env.cache) != compiled:  # a template compiled for the first time
            release_freed_memory()
        resp = web.Response(text=body, content_type="text/html", charset="utf-8")
        if request.query.get("lang") in LANGS:
            resp.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Strict", httponly=True, path="/")
        return resp

    def read(self) -> sqlite3.Connection:
        return connect(self.journal_path, readonly=True)

    async def query(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn`` on a fresh read-only connection in a worker thread (the loop never waits on SQLite)."""

        def _run() -> Any:
            conn = self.read()
            try:
                return fn(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(_run)

    def channel_or_404(self, request: web.Request) -> str:
        channel = request.match_info["channel"]
        if channel not in self.live.channels:
            raise _json_error(404, f"no channel {channel!r}")
        return channel


CONSOLE = web.AppKey("console", Console)


def _dose_spec(value: object) -> str:
    """Decimals as a meter shows a dose rate: 3 below 1, then 2, 1, 0 (0.052, 1.80, 13.2, 140)."""
    try:
        a = abs(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ".6g"
    return ".3f" if a < 1 else ".2f" if a < 10 else ".1f" if a < 100 else ".0f"


def _json_error(status: int, message: str, **extra: Any) -> web.HTTPException:
    body = json.dumps({"error": message, **extra})
    classes = {
        400: web.HTTPBadRequest,
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        429: web.HTTPTooManyRequests,
    }
    return classes[status](text=body, content_type="application/json", headers=extra.pop("headers", None))


def _ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))


# -- middleware ----------------------------------------------------------------------------------


def _public(path: str) -> bool:
    return path.startswith("/static/") or path in ("/login", "/logout", "/api/session", "/favicon.ico")


@web.middleware
async def _security(request: web.Request, handler: Handler) -> web.StreamResponse:
    console: Console = request.app[CONSOLE]
    if console.web_cfg.view == "login" and not _public(request.path) and console.session(request) is None:
        if request.path.startswith("/api/"):
            raise _json_error(401, "login required")
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.path != "/login":
        session = console.session(request)
        if session is None:
            raise _json_error(401, "login required")
        token = request.headers.get("X-CSRF-Token")
        if token is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            token = str((await request.post()).get("csrf", ""))
        if not token or not secrets.compare_digest(token, session.csrf):
            raise _json_error(403, "missing or wrong CSRF token")
    resp = await handler(request)
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


# -- overview, SSE, kiosk ----------------------------------------------------------------------------


async def overview_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "overview.html.j2", overview=console.live.overview())


async def kiosk_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "kiosk.html.j2", overview=console.live.overview())


async def overview_api(request: web.Request) -> web.Response:
    return _ok(request.app[CONSOLE].live.overview())


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``overview`` at once, then ``channel`` and ``sinks`` on every change."""
    console: Console = request.app[CONSOLE]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    resp.headers["Content-Security-Policy"] = CSP
    await resp.prepare(request)
    q = console.live.subscribe()
    try:
        await resp.write(_sse("overview", console.live.overview()))
        while True:
            try:
                event, data = await asyncio.wait_for(q.get(), SSE_KEEPALIVE_S)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            await resp.write(_sse(event, data))
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        console.live.unsubscribe(q)
    return resp


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


# -- trends ---------------------------------------------------------------------------------------------


def _range(request: web.Request) -> tuple[datetime, datetime, str]:
    q = request.query
    if "from" in q or "to" in q:
        try:
            start = journal_query.parse_time(q["from"]) if q.get("from") else None
            end = journal_query.parse_time(q["to"]) if q.get("to") else datetime.now(UTC)
        except ValueError:
            raise _json_error(400, "from/to must be ISO 8601 times, e.g. 2026-12-04T10:00:00Z") from None
        if start is None:
            raise _json_error(400, "'from' is required with 'to'")
        if end <= start:
            raise _json_error(400, "'to' must be after 'from'")
        if end - start > timedelta(days=366):
            raise _json_error(400, "a range is at most 366 days")
        return start, end, "custom"
    name = q.get("range", "1h")
    try:
        start, end = journal_query.range_ending(datetime.now(UTC), name)
    except ValueError as err:
        raise _json_error(400, str(err)) from None
    return start, end, name


def _levels(console: Console, channel: str) -> list[dict[str, Any]]:
    """Alarm levels in uSv/h of the channel's dose-rate rules (lines on the trend)."""
    out: list[dict[str, Any]] = []
    if console.alarms is None:
        return out
    for r in console.alarms.rules.get(channel, ()):
        if r.unit != "uSv/h":
            continue
        level = float(r.machine.level)
        out.append({"rule": r.name, "kind": r.kind, "state": "alarm", "level_uSv_h": level})
        fraction = r.machine.warning_fraction
        if fraction:
            out.append({"rule": r.name, "kind": r.kind, "state": "warning", "level_uSv_h": level * fraction})
    return out


async def trend_api(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    channel = console.channel_or_404(request)
    start, end, name = _range(request)

    def _q(conn: sqlite3.Connection) -> dict[str, Any]:
        tr = journal_query.trend(conn, channel, start, end)
        evs = journal_query.alarm_events(conn, channel=channel, start=start, end=end, limit=500)
        return {**tr.as_dict(), "events": evs}

    data = await console.query(_q)
    data["range"] = name
    if data["limit_uSv_h"] is None:
        data["limit_uSv_h"] = console.live.limits.get(channel)
    data["levels"] = _levels(console, channel)
    return _ok(data)


async def trend_csv(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    channel = console.channel_or_404(request)
    start, end, _ = _range(request)

    def _q(conn: sqlite3.Connection) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(journal_query.SAMPLE_CSV_COLUMNS)
        for row in journal_query.samples_between(conn, channel, start, end):
            w.writerow(tuple(row))
        return buf.getvalue()

    text = await console.query(_q)
    stamp = f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{channel}-{stamp}.csv"'},
    )


async def channel_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    channel = request.match_info["channel"]
    if channel not in console.live.channels:
        raise web.HTTPNotFound(text=f"no channel {channel}")
    return console.page(
        request,
        "channel.html.j2",
        channel=console.live.channels[channel],
        row=console.live.row(channel),
        range=request.query.get("range", "1h"),
        range_from=request.query.get("from", ""),
        range_to=request.query.get("to", ""),
    )


# -- alarms --------------------------------------------------------------------------------------------------


async def _alarms_data(console: Console, request: web.Request) -> dict[str, Any]:
    channel = request.query.get("channel")
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise _json_error(400, "limit must be a whole number") from None
    history = await console.query(lambda c: journal_query.alarm_events(c, channel=channel, limit=limit))
    current = console.alarms.current() if console.alarms else []
    return {"current": current, "history": history}


async def alarms_api(request: web.Request) -> web.Response:
    return _ok(await _alarms_data(request.app[CONSOLE], request))


async def alarms_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    data = await _alarms_data(console, request)
    channels = [console.live.rows.get(c) or console.live.row(c) for c in console.live.channels]
    return console.page(
        request, "alarms.html.j2", channels=channels, history=data["history"], message=request.query.get("message", "")
    )


async def ack(request: web.Request) -> web.Response:
    """Acknowledge a channel's alarms (or one rule) as the logged-in user, with a comment."""
    console: Console = request.app[CONSOLE]
    session = console.session(request)
    assert session is not None  # the middleware refused the request otherwise
    channel = console.channel_or_404(request)
    form = request.content_type != "application/json"
    try:
        body: dict[str, Any] = dict(await request.post()) if form else await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise _json_error(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise _json_error(400, 'body must be a JSON object: {"comment": ..., "rule": ...}')
    comment, rule = body.get("comment", ""), body.get("rule") or None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise _json_error(400, f"comment must be text of at most {MAX_COMMENT} characters")
    if rule is not None and not isinstance(rule, str):
        raise _json_error(400, "rule must be a rule name")
    if console.alarms is None:
        ok, message = False, f"no alarm rules on channel {channel!r}"
    else:
        ok, message = console.alarms.acknowledge(channel, rule, session.user, comment.strip(), source="web")
    log.info("web acknowledgement", channel=channel, rule=rule, by=session.user, accepted=ok)
    if ok and console.journal is not None:
        await console.journal.aflush()  # "acknowledged" is said once the event is committed
    console.live.refresh(channel)
    if form:
        from urllib.parse import quote

        raise web.HTTPSeeOther(f"/alarms?message={quote(message)}")
    if not ok:
        raise _json_error(409, message)
    return _ok({"accepted": True, "message": message, "by": session.user})


# -- login ------------------------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = console.page(
        request, "login.html.j2", login_csrf=token, next=_safe_next(request.query.get("next")), error=""
    )
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=console.web_cfg.tls, path="/")
    return resp


def _safe_next(target: str | None) -> str:
    # Only a path on this site: never //host or a scheme (an open redirect).
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


async def login(request: web.Request) -> web.Response:
    """Form login (``name``, ``password``, ``csrf``, ``next``) or JSON login (``{"name", "password"}``)."""
    console: Console = request.app[CONSOLE]
    is_json = request.content_type == "application/json"
    if is_json:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _json_error(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise _json_error(400, "body must be a JSON object")
        # A cross-site page cannot send application/json without a CORS preflight, which we never grant.
    else:
        body = dict(await request.post())
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(str(body.get("csrf", "")), cookie):
            raise _json_error(403, "missing or wrong CSRF token (reload the login page)")
    name, password = str(body.get("name", "")), str(body.get("password", ""))
    peer = request.remote or "?"
    keys = (f"addr:{peer}", f"name:{name}")
    wait = console.limiter.retry_after_s(*keys)
    if wait > 0:
        log.warning("web login refused: too many failures", user=name, address=peer)
        raise _json_error(429, "too many failed logins; try again later", headers={"Retry-After": str(int(wait) + 1)})
    ok = await asyncio.to_thread(console.users.authenticate, name, password)
    if not ok:
        console.limiter.failed(*keys)
        log.warning("web login failed", user=name, address=peer)
        if is_json:
            raise _json_error(401, "wrong name or password")
        from ..report.i18n import translations

        resp = console.page(
            request,
            "login.html.j2",
            login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE, ""),
            next=_safe_next(str(body.get("next", ""))),
            error=translations(console.lang(request)).gettext(WRONG_LOGIN),
        )
        resp.set_status(401)
        return resp
    console.limiter.succeeded(f"name:{name}")
    token, session = console.sessions.create(name)
    log.info("web login", user=name, address=peer)
    if is_json:
        resp = _ok({"user": name, "csrf": session.csrf})
        _set_session_cookie(resp, token, secure=console.web_cfg.tls)
        return resp
    redirect = web.HTTPSeeOther(_safe_next(str(body.get("next", ""))))
    _set_session_cookie(redirect, token, secure=console.web_cfg.tls)
    raise redirect


def _set_session_cookie(resp: web.StreamResponse, token: str, *, secure: bool) -> None:
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/")


async def logout(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    console.sessions.end(request.cookies.get(SESSION_COOKIE))
    resp = web.HTTPSeeOther("/")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp


async def session_api(request: web.Request) -> web.Response:
    session = request.app[CONSOLE].session(request)
    return _ok({"user": session.user, "csrf": session.csrf} if session else {"user": None})


# -- surveys ------------------------------------------------------------------------------------------------------


def _surveys(path: Path) -> list[dict[str, Any]]:
    """Every survey session with its verdict, evaluated exactly as its report would be."""
    from radsurvey.protocols.errors import RadsurveyError

    from ..survey.evaluation import evaluate_document
    from ..survey.store import SurveyStore

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
    return _ok({"surveys": await asyncio.to_thread(_surveys, console.journal_path)})


async def surveys_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    from ..report import FORMATS
    from ..report.i18n import LANGUAGES

    return console.page(
        request,
        "surveys.html.j2",
        surveys=await asyncio.to_thread(_surveys, console.journal_path),
        formats=FORMATS,
        report_langs=LANGUAGES,
    )


async def survey_report(request: web.Request) -> web.StreamResponse:
    from radsurvey.protocols.errors import RadsurveyError

    from ..report import FORMATS, render_report, write_report
    from ..report.i18n import LANGUAGES

    console: Console = request.app[CONSOLE]
    survey_id = request.match_info["survey"]
    fmt = request.query.get("format", "html")
    lang = request.query.get("lang", console.lang(request))
    if fmt not in FORMATS:
        raise _json_error(400, f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if lang not in LANGUAGES:
        raise _json_error(400, f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}")

    def _render() -> bytes:
        from ..survey.store import SurveyStore

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
        raise _json_error(status, str(err)) from None
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


# -- static files -----------------------------------------------------------------------------------------------

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if "/" in name or name.startswith(".") or Path(name).suffix not in _STATIC_TYPES:
        raise web.HTTPNotFound()
    res = resources.files(__name__.rsplit(".", 1)[0]).joinpath("static", name)
    if not res.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=res.read_bytes(),
        content_type=_STATIC_TYPES[Path(name).suffix],
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def no_icon(request: web.Request) -> web.Response:
    # Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
    return web.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[_security], client_max_size=64 * 1024)
    app[CONSOLE] = console
    r = app.router
    r.add_get("/", overview_page)
    r.add_get("/kiosk", kiosk_page)
    r.add_get("/api/overview", overview_api)
    r.add_get("/api/events", events)
    r.add_get("/channels/{channel}", channel_page)
    r.add_get("/api/channels/{channel}/trend", trend_api)
    r.add_get("/api/channels/{channel}/trend.csv", trend_csv)
    r.add_post("/api/channels/{channel}/ack", ack)
    r.add_get("/alarms", alarms_page)
    r.add_get("/api/alarms", alarms_api)
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/api/session", session_api)
    r.add_get("/surveys", surveys_page)
    r.add_get("/api/surveys", surveys_api)
    r.add_get("/surveys/{survey}/report", survey_report)
    r.add_get("/static/{name}", static)
    r.add_get("/favicon.ico", no_icon)
    return app
