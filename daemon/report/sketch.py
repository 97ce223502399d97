"""The room sketch: an SVG plan of the survey points, labelled and marked by decision.

Points carry ``plan_x_m`` / ``plan_y_m`` (metres, x to the right, y away from the
reader); the survey may carry ``metadata.plan_outline_m`` (the room's corners). A
point that complies is a circle, one that does not a square with a cross, so the
plan reads in black and white too; colour only repeats it.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH_PX = 640
MARGIN_PX = 36
PASS_COLOUR = "#1a7f37"
FAIL_COLOUR = "#b00020"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def plan_svg(points: list[dict[str, Any]], outline: list[Any], *, legend: dict[str, str]) -> str | None:
    """The plan as inline SVG, or None when no point has plan coordinates.

    ``legend`` gives the translated words for ``pass``, ``fail`` and ``metres``.
    """
    placed: list[tuple[dict[str, Any], float, float]] = []
    for p in points:
        x, y = _number(p.get("plan_x_m")), _number(p.get("plan_y_m"))
        if x is not None and y is not None:
            placed.append((p, x, y))
    if not placed:
        return None
    corners = [(float(c[0]), float(c[1])) for c in outline if isinstance(c, list | tuple) and len(c) == 2]
    xs = [x for _, x, _ in placed] + [c[0] for c in corners]
    ys = [y for _, _, y in placed] + [c[1] for c in corners]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    span = max(x1 - x0, y1 - y0, 1.0)
    scale = (WIDTH_PX - 2 * MARGIN_PX) / span
    height_px = int((y1 - y0) * scale + 2 * MARGIN_PX + 28)

    def at(x: float, y: float) -> tuple[float, float]:
        return MARGIN_PX + (x - x0) * scale, MARGIN_PX + (y1 - y) * scale  # y grows away from the reader

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plan" viewBox="0 0 {WIDTH_PX} {height_px}"'
        f' width="100%" role="img" aria-label="{escape(legend.get("title", "plan"))}">'
    ]
    if len(corners) >= 3:
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (at(x, y) for x, y in corners))
        parts.append(f'<polygon points="{path}" fill="none" stroke="#000" stroke-width="2"/>')
    for p, x, y in placed:
        px, py = at(x, y)
        failed = p.get("decision", p.get("verdict")) == "fail"
        colour = FAIL_COLOUR if failed else PASS_COLOUR
        if failed:
            parts.append(
                f'<rect x="{px - 7:.1f}" y="{py - 7:.1f}" width="14" height="14" fill="{colour}" stroke="#000"/>'
                f'<path d="M{px - 5:.1f},{py - 5:.1f} L{px + 5:.1f},{py + 5:.1f} M{px + 5:.1f},{py - 5:.1f}'
                f' L{px - 5:.1f},{py + 5:.1f}" stroke="#fff" stroke-width="2"/>'
            )
        else:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="7" fill="{colour}" stroke="#000"/>')
        label = escape(f"{p['id']} ({legend['fail'] if failed else legend['pass']})")
        parts.append(f'<text x="{px + 11:.1f}" y="{py + 4:.1f}" font-size="13" direction="ltr">{label}</text>')
    # Legend and scale bar (1 m) along the bottom.
    ly = height_px - 12
    bar = scale
    parts.append(
        f'<circle cx="{MARGIN_PX}" cy="{ly - 4}" r="6" fill="{PASS_COLOUR}" stroke="#000"/>'
        f'<text x="{MARGIN_PX + 10}" y="{ly}" font-size="12" direction="ltr">{escape(legend["pass"])}</text>'
        f'<rect x="{MARGIN_PX + 150}" y="{ly - 10}" width="12" height="12" fill="{FAIL_COLOUR}" stroke="#000"/>'
        f'<text x="{MARGIN_PX + 166}" y="{ly}" font-size="12" direction="ltr">{escape(legend["fail"])}</text>'
        f'<line x1="{WIDTH_PX - MARGIN_PX - bar:.1f}" y1="{ly - 4}" x2="{WIDTH_PX - MARGIN_PX}" y2="{ly - 4}"'
        f' stroke="#000" stroke-width="2"/>'
        f'<text x="{WIDTH_PX - MARGIN_PX - bar:.1f}" y="{ly - 8}" font-size="12" direction="ltr">'
        f"{escape(legend['metre'])}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
