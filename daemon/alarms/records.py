"""What the alarm modules share below the service: journal time stamps, event rows, the ack interface.

``service.py`` runs the rules; ``actions.py`` and ``mqtt_ack.py`` serve it. They
import this module, never the service, so the package has no import cycle.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from radsurvey.daemon.journal import times


def iso(t: float | None) -> str | None:
    """POSIX seconds as the journal writes times (UTC, milliseconds, ``Z``)."""
    return None if t is None else times.seconds_text(t)


parse_iso = times.text_seconds


class Acknowledger(Protocol):
    """The one acknowledgement path (CLI, MQTT, web): the alarm service implements it."""

    ready: asyncio.Event

    def acknowledge(
        self, channel: str, rule: str | None, by: str, comment: str = "", *, source: str
    ) -> tuple[bool, str]: ...
