"""What each kind of alarm rule compares: shown in payloads, ``alarms list`` and docs/alarms.md.

A monitor's threshold is never set by a regulation itself: the twa is
radsurvey's derived comparison, the instant level the user's, the dose budget a
projection against a profile's dose limit. Kept import-free so payload builders
can use it.
"""

from __future__ import annotations

BASIS = {
    "twa": (
        "derived comparison (radsurvey): time-weighted mean of the measured E against the room category's "
        "DMD_E; no regulation sets thresholds for a continuous monitor"
    ),
    "instant": "operational level set by the user; no regulation sets it",
    "dose_budget": (
        "projection (radsurvey): measured dose of the period extrapolated to the whole period, against a "
        "dose limit of the profile"
    ),
    "equipment": "condition of the installation",
}


def basis(kind: str | None) -> str | None:
    """The basis of a rule kind (None for no rule)."""
    return None if kind is None else BASIS.get(kind, "")
