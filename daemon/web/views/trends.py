"""A channel's page, its trend (JSON) and the trend's samples as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from ...journal import ReadConnection, times, trends
from ...journal.alarms import events as alarm_events
from .. import http
from ..base import Console, json_error, json_ok


def _range(request: http.Request) -> tuple[datetime, datetime, str]:
    q = request.query
    if "from" in q or "to" in q:
        try:
            start = times.parse(q["from"]) if q.get("from") else None
            end = times.parse(q["to"]) if q.get("to") else datetime.now(UTC)
        except ValueError:
            raise json_error(400, "from/to must be ISO 8601 times, e.g. 2026-12-04T10:00:00Z") from None
        if start is None:
            raise json_error(400, "'from' is required with 'to'")
        if end <= start:
            raise json_error(400, "'to' must be after 'from'")
        if end - start > timedelta(days=366):
            raise json_error(400, "a range is at most 366 days")
        return start, end, "custom"
    name = q.get("range", "1h")
    try:
        start, end = trends.range_ending(datetime.now(UTC), name)
    except ValueError as err:
        raise json_error(400, str(err)) from None
    return start, end, name


def _levels(console: Console, channel: str) -> list[dict[str, Any]]:
    """Alarm levels in uSv/h of the channel's dose-rate rules (lines on the trend)."""
    out: list[dict[str, Any]] = []
    if console.alarms is None:
        return out
    for r in console.alarms.rules.get(channel, ()):
        if r.unit != "uSv/h":
            continue
        level = float(r.machine.level)
        out.append({"rule": r.name, "kind": r.kind, "state": "alarm", "level_uSv_h": level})
        fraction = r.machine.warning_fraction
        if fraction:
            out.append({"rule": r.name, "kind": r.kind, "state": "warning", "level_uSv_h": level * fraction})
    return out


async def trend_api(request: http.Request) -> http.Response:
    console: Console = request.app
    channel = console.channel_or_404(request)
    start, end, name = _range(request)

    def _q(conn: ReadConnection) -> dict[str, Any]:
        tr = trends.trend(conn, channel, start, end)
        evs = alarm_events(conn, channel=channel, start=start, end=end, limit=500)
        return {**tr.as_dict(), "events": evs}

    data = await console.query(_q)
    data["range"] = name
    if data["limit_uSv_h"] is None:
        data["limit_uSv_h"] = console.live.limits.get(channel)
    data["levels"] = _levels(console, channel)
    return json_ok(data)


async def trend_csv(request: http.Request) -> http.Response:
    console: Console = request.app
    channel = console.channel_or_404(request)
    start, end, _ = _range(request)

    def _q(conn: ReadConnection) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(trends.SAMPLE_CSV_COLUMNS)
        for row in trends.samples_between(conn, channel, start, end):
            w.writerow(tuple(row))
        return buf.getvalue()

    text = await console.query(_q)
    stamp = f"{start:%Y%m%dT%H%M%SZ}-{end:%Y%m%dT%H%M%SZ}"
    return http.Response(
        text,
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{channel}-{stamp}.csv"'},
    )


async def channel_page(request: http.Request) -> http.Response:
    console: Console = request.app
    channel = request.match_info["channel"]
    if channel not in console.live.channels:
        raise http.text_error(404, f"no channel {channel}")
    return console.page(
        request,
        "channel.html.j2",
        channel=console.live.channels[channel],
        row=console.live.row(channel),
        range=request.query.get("range", "1h"),
        range_from=request.query.get("from", ""),
        range_to=request.query.get("to", ""),
    )
