"""What the CLI asks about alarms: which rules an acknowledgement may name, and the journal's alarm views.

The views and the acknowledgement requests are the journal's (``journal/alarms.py``): this module names
them for the CLI beside :func:`ack_targets`, which is the alarm configuration's.
"""

from __future__ import annotations

from typing import Any

from ..journal.alarms import (
    ack_requests,
    current,
    daemon_running,
    ever_ran,
    history,
    last_ack_seq,
    last_run_config,
    request_ack,
    wait_for_ack,
    wait_for_ack_event,
)

__all__ = [
    "ack_requests",
    "ack_targets",
    "current",
    "daemon_running",
    "ever_ran",
    "history",
    "last_ack_seq",
    "last_run_config",
    "request_ack",
    "wait_for_ack",
    "wait_for_ack_event",
]


def ack_targets(cfg: Any) -> dict[str, set[str]]:
    """channel -> the rule names the daemon runs on it (what an acknowledgement may name, what the sinks publish)."""
    out: dict[str, set[str]] = {}
    for ch in cfg.channels:
        names = {r.name for r in cfg.alarm_rules(ch)}
        if names:
            # The daemon adds these to every channel with rules (alarms/service.py).
            daemon_rules = {"journal_write", "journal_damaged"}
            out[ch.id] = names | daemon_rules | ({"action"} if cfg.alarms.command is not None else set())
        if getattr(cfg, "facility", None) is not None:
            # ... and these to every channel when it keeps a facility record.
            out[ch.id] = out.get(ch.id, set()) | {"facility_hold", "facility_due"}
    return out
