"""The overview, the kiosk view and the Server-Sent Events stream that keeps them live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from .. import http
from ..base import CSP, Console, json_ok

SSE_KEEPALIVE_S = 15.0


def _public_sinks(sinks: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What a visitor without a login sees of the sinks: no error text (it names servers and URLs)."""
    return {name: {**s, "last_error": None} for name, s in sinks.items()}


def _overview_for(console: Console, request: http.Request) -> dict[str, Any]:
    data = console.live.overview()
    if console.session(request) is None:
        data["sinks"] = _public_sinks(data["sinks"])
    return data


async def overview_page(request: http.Request) -> http.Response:
    console: Console = request.app
    return console.page(request, "overview.html.j2", overview=_overview_for(console, request))


async def kiosk_page(request: http.Request) -> http.Response:
    console: Console = request.app
    return console.page(request, "kiosk.html.j2", overview=_overview_for(console, request))


async def overview_api(request: http.Request) -> http.Response:
    return json_ok(_overview_for(request.app, request))


async def events(request: http.Request) -> http.Response:
    """Server-Sent Events: ``overview`` at once, then ``channel`` and ``sinks`` on every change."""
    console: Console = request.app
    anonymous = console.session(request) is None

    async def stream() -> AsyncGenerator[bytes, None]:
        # Subscribed once the answer's head is out; the server closes this generator when the client leaves.
        q = console.live.subscribe()
        try:
            yield _sse("overview", _overview_for(console, request))
            while True:
                try:
                    event, data = await asyncio.wait_for(q.get(), SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if anonymous and event == "sinks":
                    data = _public_sinks(data)
                elif anonymous and event == "overview":
                    data = {**data, "sinks": _public_sinks(data["sinks"])}
                yield _sse(event, data)
        finally:
            console.live.unsubscribe(q)

    return http.StreamResponse(
        stream(),
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            "Content-Security-Policy": CSP,
        },
    )


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()
