"""The console's own script and styles (nothing is loaded from outside)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .. import http

_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}


async def static(request: http.Request) -> http.Response:
    name = request.match_info["name"]
    if "/" in name or name.startswith(".") or Path(name).suffix not in _STATIC_TYPES:
        raise http.text_error(404)
    res = resources.files(__name__.rsplit(".", 2)[0]).joinpath("static", name)
    if not res.is_file():
        raise http.text_error(404)
    return http.Response(
        res.read_bytes(),
        content_type=_STATIC_TYPES[Path(name).suffix],
        charset=None,
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def no_icon(request: http.Request) -> http.Response:
    # Browsers ask for it on every page; an empty answer keeps their consoles free of 404s.
    return http.Response(status=204, headers={"Cache-Control": "public, max-age=86400"})
