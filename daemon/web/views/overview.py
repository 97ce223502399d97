"""The overview, the kiosk view and the Server-Sent Events stream that keeps them live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..base import CONSOLE, CSP, Console, json_ok

SSE_KEEPALIVE_S = 15.0


def _public_sinks(sinks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a visitor without a login sees of the sinks: no error text (it names servers and URLs)."""
    return {name: {**s, "last_error": None} for name, s in sinks.items()}


def _overview_for(console: Console, request: web.Request) -> dict[str, Any]:
    data = console.live.overview()
    if console.session(request) is None:
        data["sinks"] = _public_sinks(data["sinks"])
    return data


async def overview_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "overview.html.j2", overview=_overview_for(console, request))


async def kiosk_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "kiosk.html.j2", overview=_overview_for(console, request))


async def overview_api(request: web.Request) -> web.Response:
    return json_ok(_overview_for(request.app[CONSOLE], request))


async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: ``overview`` at once, then ``channel`` and ``sinks`` on every change."""
    console: Console = request.app[CONSOLE]
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    resp.headers["Content-Security-Policy"] = CSP
    await resp.prepare(request)
    anonymous = console.session(request) is None
    q = console.live.subscribe()
    try:
        await resp.write(_sse("overview", _overview_for(console, request)))
        while True:
            try:
                event, data = await asyncio.wait_for(q.get(), SSE_KEEPALIVE_S)
            except TimeoutError:
                await resp.write(b": keep-alive\n\n")
                continue
            if anonymous and event == "sinks":
                data = _public_sinks(data)
            elif anonymous and event == "overview":
                data = {**data, "sinks": _public_sinks(data["sinks"])}
            await resp.write(_sse(event, data))
    except (ConnectionResetError, ConnectionError):
        pass
    finally:
        console.live.unsubscribe(q)
    return resp


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
