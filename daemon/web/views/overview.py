"""The overview, the kiosk view and the Server-Sent Events stream that keeps them live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from ..base import CONSOLE, CSP, Console, json_ok

SSE_KEEPALIVE_S = 15.0


async def overview_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "overview.html.j2", overview=console.live.overview())


async def kiosk_page(request: web.Request) -> web.Response:
    console: Console = request.app[CONSOLE]
    return console.page(request, "kiosk.html.j2", overview=console.live.overview())


async def overview_api(request: web.Request) -> web.Response:
    return json_ok(request.app[CONSOLE].live.overview())


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
