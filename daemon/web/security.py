"""The console's security middleware: the view policy, CSRF on every state change, CSP and cache headers."""

from __future__ import annotations

import secrets

from .base import CSP, Console, json_error
from .http import Handler, HTTPError, Request, Response, see_other


def _public(path: str) -> bool:
    return path.startswith("/static/") or path in ("/login", "/logout", "/api/session", "/favicon.ico")


async def _checked(request: Request, handler: Handler) -> Response:
    console: Console = request.app
    if console.web_cfg.view == "login" and not _public(request.path) and console.session(request) is None:
        if request.path.startswith("/api/"):
            raise json_error(401, "login required")
        return see_other(f"/login?next={request.path_qs}")
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.path != "/login":
        session = console.session(request)
        if session is None:
            raise json_error(401, "login required")
        token = request.headers.get("X-CSRF-Token")
        if token is None:
            token = request.form().get("csrf", "")
        if not token or not secrets.compare_digest(token.encode(), session.csrf.encode()):
            raise json_error(403, "missing or wrong CSRF token")
    return await handler(request)


async def security(request: Request, handler: Handler) -> Response:
    """Every answer, errors and redirects included, carries the CSP and the other headers."""
    try:
        resp = await _checked(request, handler)
    except HTTPError as err:
        resp = err.response
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp
