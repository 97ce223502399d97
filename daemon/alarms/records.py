"""What the alarm modules share below the service: journal time stamps, event rows, the ack interface.

``service.py`` runs the rules; ``actions.py`` and ``mqtt_ack.py`` serve it. They
import this module, never the service, so the package has no import cycle.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from radsurvey.daemon.journal import times

from .engine import Event


def iso(t: float | None) -> str | None:
    """POSIX seconds as the journal writes times (UTC, milliseconds, ``Z``)."""
    return None if t is None else times.seconds_text(t)


parse_iso = times.text_seconds


def event_row(ev: Event) -> dict[str, Any]:
    """The ``alarm_events`` columns of an event (the journal adds seq)."""
    return {
        "ts": iso(ev.t),
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
        "since": iso(ev.since),
        "acknowledged": int(ev.acknowledged),
        "acknowledged_by": ev.acknowledged_by,
        "acknowledged_at": iso(ev.acknowledged_at),
        "comment": ev.comment,
        "latched": int(ev.latched),
    }


class Acknowledger(Protocol):
    """The one acknowledgement path (CLI, MQTT, web): the alarm service implements it."""

    ready: asyncio.Event

    def acknowledge(
        self, channel: str, rule: str | None, by: str, comment: str = "", *, source: str
    ) -> tuple[bool, str]: ...
