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
    "dmd_e": N_("DMD_E"),
    "uSv_h": N_("µSv/h"),
    "limit_mark": N_("limit"),
}

# Units of alarm rules and samples as the report prints them (uSv/h -> µSv/h -> мкЗв/ч).
UNITS: dict[str, str] = {
    "uSv/h": N_("µSv/h"),
    "uGy/h": N_("µGy/h"),
    "mSv": N_("mSv"),
    "s": N_("s"),
    "bytes": N_("bytes"),
    "rows": N_("rows"),
    "sinks": N_("sinks"),
    "flag": "",
}
# Alarm rule kinds and event names (docs/alarms.md); a rule's own id is shown beside its kind when it differs.
RULE_KINDS: dict[str, str] = {
    "instant": N_("instant value"),
    "twa": N_("time-weighted mean"),
    "dose_budget": N_("yearly dose"),
    "equipment": N_("equipment"),
    # equipment rules are named after their check unless given an id; the daemon's own rules
    "disconnected": N_("meter disconnected"),
    "stale": N_("no fresh value"),
    "over_range": N_("over range"),
    "clock": N_("clock not synchronised"),
    "journal_size": N_("journal size"),
    "sink_backlog": N_("sink backlog"),
    "journal_write": N_("journal write"),
    "journal_damaged": N_("journal damaged"),
}
EVENTS: dict[str, str] = {"transition": N_("state change"), "ack": N_("acknowledgement")}


# Said by the server outside templates.
WRONG_LOGIN = N_("Wrong name or password.")
TOO_MANY_LOGINS = N_("Too many failed logins from this computer. Try again in %(minutes)d min.")


def script_words(gettext: Any) -> dict[str, str]:
    """Every word the script shows, translated; units, rule kinds and events under ``unit:``/``kind:``/``event:``."""
    words = {key: gettext(text) for key, text in SCRIPT_WORDS.items()}
    words.update({f"unit:{key}": gettext(text) if text else "" for key, text in UNITS.items()})
    words.update({f"kind:{key}": gettext(text) for key, text in RULE_KINDS.items()})
    words.update({f"event:{key}": gettext(text) for key, text in EVENTS.items()})
    return words


def unit_text(unit: Any, gettext: Any) -> str:
    """A unit as the report prints it in the page's language; an unknown one as given."""
    text = UNITS.get(str(unit))
    if text is None:
        return str(unit or "")
    return str(gettext(text)) if text else ""


def rule_text(rule: Any, kind: Any, gettext: Any) -> str:
    """A rule by its translated kind, with its own id when that differs (``ward-occupancy (yearly dose)``)."""
    name = RULE_KINDS.get(str(kind)) or RULE_KINDS.get(str(rule))
    if name is None:
        return str(rule)
    translated = str(gettext(name))
    return translated if str(rule) in (str(kind), "") or str(rule) in RULE_KINDS else f"{rule} ({translated})"


def event_text(event: Any, gettext: Any) -> str:
    name = EVENTS.get(str(event))
    return str(gettext(name)) if name else str(event)
