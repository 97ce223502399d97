"""Login (form and JSON), logout and the session API."""

from __future__ import annotations

import asyncio
import json
import math
import secrets

import structlog

from .. import http
from ..base import HASH_QUEUE, LOGIN_CSRF_COOKIE, SESSION_COOKIE, Console, json_error, json_ok
from ..text import TOO_MANY_LOGINS, WRONG_LOGIN

log = structlog.get_logger("radsurvey.web")


async def login_page(request: http.Request) -> http.Response:
    console: Console = request.app
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(24)
    resp = console.page(
        request, "login.html.j2", login_csrf=token, next=_safe_next(request.query.get("next")), error="", name=""
    )
    resp.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=console.web_cfg.tls, path="/")
    return resp


def _safe_next(target: str | None) -> str:
    """``target`` when it is a path of this site, else ``/`` (never an open redirect).

    Refused: anything not starting with one ``/``, a backslash, and any control or white-space character
    (a browser or the HTTP layer drops TAB/CR/LF, so ``/\t/evil.example/`` would become ``//evil.example/``),
    nor invisible format characters.
    """
    import unicodedata
    from urllib.parse import urlsplit

    if not target or len(target) > 2000 or not target.startswith("/") or "\\" in target:
        return "/"
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp") for ch in target):
        return "/"
    parts = urlsplit(target)
    if target.startswith("//") or parts.scheme or parts.netloc:
        return "/"
    return target


async def login(request: http.Request) -> http.Response:
    """Form login (``name``, ``password``, ``csrf``, ``next``) or JSON login (``{"name", "password"}``)."""
    console: Console = request.app
    is_json = request.content_type == "application/json"
    if is_json:
        try:
            body = request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise json_error(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise json_error(400, "body must be a JSON object")
        # A cross-site page cannot send application/json without a CORS preflight, which we never grant.
    else:
        body = request.form()
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(str(body.get("csrf", "")), cookie):
            raise json_error(403, "missing or wrong CSRF token (reload the login page)")
    name, password = str(body.get("name", ""))[:200], str(body.get("password", ""))[:1000]
    peer = request.remote or "?"
    # Counted before the password is hashed: parallel guesses cannot all pass one check.
    wait, attempt = console.limiter.begin(peer, name)
    if attempt is None:
        log.warning("web login refused: too many failures", user=name, address=peer, retry_after_s=round(wait))
        retry = str(math.ceil(wait))
        if is_json:
            raise json_error(429, "too many failed logins; try again later", headers={"Retry-After": retry})
        return _login_page(request, body, TOO_MANY_LOGINS, status=429, minutes=math.ceil(wait / 60), retry=retry)
    if console.hashing >= HASH_QUEUE:
        console.limiter.cancel(attempt)
        log.warning("web login refused: too many logins being checked", address=peer)
        raise json_error(503, "too many logins at once; try again in a moment", headers={"Retry-After": "1"})
    console.hashing += 1
    try:
        loop = asyncio.get_running_loop()
        credential = await loop.run_in_executor(console.hasher, console.users.check, name, password)
    finally:
        console.hashing -= 1
    if credential is None:
        log.warning("web login failed", user=name, address=peer)
        if is_json:
            raise json_error(401, "wrong name or password")
        return _login_page(request, body, WRONG_LOGIN, status=401)
    console.limiter.succeeded(attempt)
    token, session = console.sessions.create(name, credential)
    log.info("web login", user=name, address=peer)
    if is_json:
        resp = json_ok({"user": name, "csrf": session.csrf})
        _set_session_cookie(resp, token, secure=console.web_cfg.tls)
        return resp
    redirect = http.see_other(_safe_next(str(body.get("next", ""))))
    _set_session_cookie(redirect, token, secure=console.web_cfg.tls)
    return redirect


def _login_page(
    request: http.Request, body: dict[str, object], error: str, *, status: int, retry: str = "", **values: object
) -> http.Response:
    """The login form again, with ``error`` (a catalogue message, %-formatted with ``values``) in the visitor's
    language."""
    from ...report.i18n import translations

    console: Console = request.app
    text = translations(console.lang(request)).gettext(error)
    resp = console.page(
        request,
        "login.html.j2",
        login_csrf=request.cookies.get(LOGIN_CSRF_COOKIE, ""),
        next=_safe_next(str(body.get("next", ""))),
        error=text % values if values else text,
        name=str(body.get("name", ""))[:200],  # kept: only the password is typed again (issue 22)
    )
    resp.status = status
    if retry:
        resp.headers["Retry-After"] = retry
    return resp


def _set_session_cookie(resp: http.Response, token: str, *, secure: bool) -> None:
    resp.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/")


async def logout(request: http.Request) -> http.Response:
    console: Console = request.app
    console.sessions.end(request.cookies.get(SESSION_COOKIE))
    resp = http.see_other("/")
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


async def session_api(request: http.Request) -> http.Response:
    session = request.app.session(request)
    return json_ok({"user": session.user, "csrf": session.csrf} if session else {"user": None})
