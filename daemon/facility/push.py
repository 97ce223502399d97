"""A technician's laptop files a survey on the daemon: log in to the console, POST /api/facility/surveys.

Plain HTTP(S) with the standard library (certificates verified); the password goes only into the login
request's body and is never logged or put in an error.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from typing import Any

from .model import FacilityError


def push_survey(
    url: str,
    *,
    user: str,
    password: str,
    room: str,
    survey: dict[str, Any],
    apparatus: str | None = None,
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """The console's answer (``survey``, ``room``, ``conclusion``, ``hold``, ...); FacilityError with its one line."""
    base = url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise FacilityError(f"{url!r} is not an http:// or https:// address", field="url")
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def call(path: str, body: dict[str, Any], csrf: str = "") -> dict[str, Any]:
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        if csrf:
            req.add_header("X-CSRF-Token", csrf)
        try:
            with opener.open(req, timeout=timeout_s) as r:
                answer: dict[str, Any] = json.loads(r.read())
                return answer
        except urllib.error.HTTPError as err:
            try:
                message = str(json.loads(err.read()).get("error") or err.reason)
            except (ValueError, AttributeError):
                message = str(err.reason)
            raise FacilityError(f"{base}{path}: {err.code} {message}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            raise FacilityError(f"{base}: cannot reach the console: {reason}") from None

    csrf = str(call("/login", {"name": user, "password": password}).get("csrf") or "")
    body: dict[str, Any] = {"room": room, "survey": survey}
    if apparatus is not None:
        body["apparatus"] = apparatus
    return call("/api/facility/surveys", body, csrf)
