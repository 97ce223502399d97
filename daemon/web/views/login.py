"""Login (form and JSON), logout and the session API."""

from __future__ import annotations

import asyncio
import json
import secrets

import structlog
from aiohttp import web

from ..base import CONSOLE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Console, json_error, json_ok
from ..text import WRONG_LOGIN

log = structlog.get_logger("radsurvey.web")


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
            raise json_error(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise json_error(400, "body must be a JSON object")
        # A cross-site page cannot send application/json without a CORS preflight, which we never grant.
    else:
        body = dict(await request.post())
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(str(body.get("csrf", "")), cookie):
            raise json_error(403, "missing or wrong CSRF token (reload the login page)")
    name, password = str(body.get("name", "")), str(body.get("password", ""))
    peer = request.remote or "?"
    keys = (f"addr:{peer}", f"name:{name}")
    wait = console.limiter.retry_after_s(*keys)
    if wait > 0:
        log.warning("web login refused: too many failures", user=name, address=peer)
        raise json_error(429, "too many failed logins; try again later", headers={"Retry-After": str(int(wait) + 1)})
    ok = await asyncio.to_thread(console.users.authenticate, name, password)
    if not ok:
        console.limiter.failed(*keys)
        log.warning("web login failed", user=name, address=peer)
        if is_json:
            raise json_error(401, "wrong name or password")
        from ...report.i18n import translations

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
        resp = json_ok({"user": name, "csrf": session.csrf})
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
    return json_ok({"user": session.user, "csrf": session.csrf} if session else {"user": None})
