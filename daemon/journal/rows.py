"""Typed objects -> the columns the writer stores (the only place that knows both).

A reading or a sample reaches the writer with its time as integer UTC milliseconds
(``t_ms``), taken straight from its datetime: no text is written to be parsed back.
Status flags, conversions and corrections are JSON because that is how their
contexts are stored (``reading_ctx``, ``sample_ctx``). Meter and alarm events keep
their text times: their tables store them so (docs/architecture.md, the journal).
Spill files (``spill.py``) and imported spill files carry these same columns.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from . import times

if TYPE_CHECKING:
    from radsurvey.drivers.base import Reading
    from radsurvey.drivers.runner import MeterState

    from ..alarms.engine import Event
    from ..pipeline import Sample


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def reading_columns(reading: Reading) -> dict[str, Any]:
    return {
        "t_ms": times.datetime_to_ms(reading.ts),
        "meter": reading.meter,
        "value": reading.value,
        "unit": reading.unit,
        "quantity": reading.quantity.value,
        "status": json.dumps(sorted(s.value for s in reading.status)),
        "raw": reading.raw,
        "conversions": _json([c.as_dict() for c in reading.conversions]),
        "meter_value": reading.meter_value,
    }


def sample_columns(sample: Sample) -> dict[str, Any]:
    return {
        "t_ms": times.datetime_to_ms(sample.ts),
        "channel": sample.channel,
        "meter": sample.meter,
        "reading_seq": sample.reading_seq,
        "room_category": sample.room_category,
        "value_uGy_h": sample.value_uGy_h,
        "mean_uGy_h": sample.mean_uGy_h,
        "window_n": sample.window_n,
        "background_uGy_h": sample.background_uGy_h,
        "net_uGy_h": sample.net_uGy_h,
        "below_background": int(sample.below_background),
        "normalised_uGy_h": sample.normalised_uGy_h,
        "effective_uSv_h": sample.effective_uSv_h,
        "limit_uSv_h": sample.limit_uSv_h,
        "ratio": sample.ratio,
        "formula": sample.formula,
        "corrections": _json(list(sample.corrections)),
    }


def meter_event_columns(state: MeterState) -> dict[str, Any]:
    detail = dict(state.detail)
    if state.identity is not None:
        detail["identity"] = state.identity.as_dict()
    return {
        "ts": times.text(state.ts),
        "meter": state.meter,
        "state": state.state,
        "reason": state.reason,
        "detail": _json(detail),
    }


def alarm_event_columns(ev: Event) -> dict[str, Any]:
    def text(t: float | None) -> str | None:
        return None if t is None else times.seconds_text(t)

    return {
        "ts": text(ev.t),
        "channel": ev.channel,
        "rule": ev.rule,
        "kind": ev.kind,
        "event": ev.event,
        "state": ev.state.value,
        "previous": ev.previous.value,
        "value": ev.value,
        "level": ev.level,
        "warning_level": ev.warning_level,
        "unit": ev.unit,
        "since": text(ev.since),
        "acknowledged": int(ev.acknowledged),
        "acknowledged_by": ev.acknowledged_by,
        "acknowledged_at": text(ev.acknowledged_at),
        "comment": ev.comment,
        "latched": int(ev.latched),
    }


def row_ms(row: dict[str, Any]) -> int:
    """A queued or spilled row's time in ms: ``t_ms`` from a typed append, ``ts`` text from older spill files."""
    t = row.get("t_ms")
    return int(t) if t is not None else times.text_to_ms(row["ts"])
