"""Backlog, lag and errors per sink, read from the journal alone (for ``radsurvey status``)."""

from __future__ import annotations

from typing import Any

from ..journal import ReadConnection
from ..journal.feed import sink_backlogs
from .base import utc_age_s
from .payloads import INFLUX_ROUTES, MQTT_ROUTES

SINK_TABLES: dict[str, tuple[str, ...]] = {"mqtt": tuple(MQTT_ROUTES), "influxdb": tuple(INFLUX_ROUTES)}


def sink_status(conn: ReadConnection) -> dict[str, dict[str, Any]]:
    """Per sink: acknowledged seq, rows not yet delivered, age of the oldest of them, error count and last error."""
    out: dict[str, dict[str, Any]] = {}
    for sink, status in sink_backlogs(conn, SINK_TABLES).items():
        oldest = status.pop("oldest_pending_ts")
        lag = {"lag_s": round(utc_age_s(oldest), 3) if oldest else 0.0, "oldest_pending_ts": oldest}
        out[sink] = {"seq": status.pop("seq"), "backlog_rows": status.pop("backlog_rows"), **lag, **status}
    return out
