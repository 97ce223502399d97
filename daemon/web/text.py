"""Words the console's script shows (states, labels built at run time).

Marked with ``N_`` so that ``scripts/update-catalogues.sh`` extracts them into the
report catalogues (babel.cfg); the page gets them translated as one JSON object.
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    return message


SCRIPT_WORDS: dict[str, str] = {
    "normal": N_("normal"),
    "warning": N_("warning"),
    "alarm": N_("alarm"),
    "fault": N_("fault"),
    "live": N_("live"),
    "stale": N_("stale: no fresh value"),
    "disconnected": N_("meter disconnected"),
    "no_data": N_("no data yet"),
    "connected": N_("connected"),
    "connecting": N_("connecting"),
    "error": N_("error"),
    "unknown": N_("unknown"),
    "last": N_("last value"),
    "at": N_("at"),
    "acknowledged": N_("acknowledged"),
    "not_acknowledged": N_("not acknowledged"),
    "no_alarm_rules": N_("no alarm rules"),
    "backlog": N_("backlog"),
    "rows": N_("rows"),
    "connection_lost": N_("connection to the daemon lost; reconnecting"),
    "mean": N_("mean"),
    "min_max": N_("min-max"),
    "no_samples": N_("no samples in this range"),
    "alarm_event": N_("alarm event"),
    "ack_ok": N_("acknowledged"),
    "ack_failed": N_("acknowledgement refused"),
    "below_background": N_("below background"),
}


# Said by the server outside templates.
WRONG_LOGIN = N_("Wrong name or password.")
TOO_MANY_LOGINS = N_("Too many failed logins from this computer. Try again in %(minutes)d min.")


def script_words(gettext: Any) -> dict[str, str]:
    return {key: gettext(text) for key, text in SCRIPT_WORDS.items()}
