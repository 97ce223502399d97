"""The console's security middleware: the view policy, CSRF on every state change, CSP and cache headers."""

from __future__ import annotations

import secrets

from aiohttp import web

from .base import CONSOLE, CSP, Console, Handler, json_error


def _public(path: str) -> bool:
    return path.startswith("/static/") or path in ("/login", "/logout", "/api/session", "/favicon.ico")


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    console: Console = request.app[CONSOLE]
    if console.web_cfg.view == "login" and not _public(request.path) and console.session(request) is None:
        if request.path.startswith("/api/"):
            raise json_error(401, "login required")
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.path != "/login":
        session = console.session(request)
        if session is None:
            raise json_error(401, "login required")
        token = request.headers.get("X-CSRF-Token")
        if token is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            token = str((await request.post()).get("csrf", ""))
        if not token or not secrets.compare_digest(token, session.csrf):
            raise json_error(403, "missing or wrong CSRF token")
    resp = await handler(request)
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/static/"):
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp
