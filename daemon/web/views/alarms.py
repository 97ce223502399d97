"""Current alarms and their history; acknowledging one as the logged-in user."""

from __future__ import annotations

import json
from typing import Any

import structlog

from ...journal.alarms import events as alarm_events
from .. import http
from ..base import Console, json_error, json_ok

log = structlog.get_logger("radsurvey.web")
MAX_COMMENT = 500


async def _alarms_data(console: Console, request: http.Request) -> dict[str, Any]:
    channel = request.query.get("channel")
    try:
        limit = min(1000, max(1, int(request.query.get("limit", "100"))))
    except ValueError:
        raise json_error(400, "limit must be a whole number") from None
    history = await console.query(lambda c: alarm_events(c, channel=channel, limit=limit))
    current = console.alarms.current() if console.alarms else []
    return {"current": current, "history": history}


async def alarms_api(request: http.Request) -> http.Response:
    return json_ok(await _alarms_data(request.app, request))


async def alarms_page(request: http.Request) -> http.Response:
    console: Console = request.app
    data = await _alarms_data(console, request)
    channels = [console.live.rows.get(c) or console.live.row(c) for c in console.live.channels]
    # Only what this session's own acknowledgement produced: never text a link carries (?message=...).
    session = console.session(request)
    message = ""
    if session is not None:
        message, session.flash = session.flash, ""
    return console.page(request, "alarms.html.j2", channels=channels, history=data["history"], message=message)


async def ack(request: http.Request) -> http.Response:
    """Acknowledge a channel's alarms (or one rule) as the logged-in user, with a comment."""
    console: Console = request.app
    session = console.session(request)
    assert session is not None  # the middleware refused the request otherwise
    channel = console.channel_or_404(request)
    form = request.content_type != "application/json"
    try:
        body: dict[str, Any] = request.form() if form else request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise json_error(400, "body is not JSON") from None
    if not isinstance(body, dict):
        raise json_error(400, 'body must be a JSON object: {"comment": ..., "rule": ...}')
    comment, rule = body.get("comment", ""), body.get("rule") or None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise json_error(400, f"comment must be text of at most {MAX_COMMENT} characters")
    if rule is not None and not isinstance(rule, str):
        raise json_error(400, "rule must be a rule name")
    if console.alarms is None:
        ok, message = False, f"no alarm rules on channel {channel!r}"
    else:
        ok, message = console.alarms.acknowledge(channel, rule, session.user, comment.strip(), source="web")
    log.info("web acknowledgement", channel=channel, rule=rule, by=session.user, accepted=ok)
    if ok and console.journal is not None:
        await console.journal.aflush()  # "acknowledged" is said once the event is committed
    console.live.refresh(channel)
    if form:
        session.flash = message
        return http.see_other("/alarms")
    if not ok:
        raise json_error(409, message)
    return json_ok({"accepted": True, "message": message, "by": session.user})
