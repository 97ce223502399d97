"""Warnings and validity problems as sentences for the person reading the protocol.

The evaluation speaks to programs (``points[S1].readings_uGy_h.120: 1 of 3 readings
outside 0.1-1000 uGy/h ...``); the protocol says "Point S1, 120 cm: 1 of 3 readings
outside 0,1–1000 мкГр/ч ...". Each known sentence is recognised by its pattern and
re-written from a translated template (daemon/report/messages.py) with its numbers in
the report's format. A sentence no pattern knows keeps its words but never its
field path. Structured warnings (``{"code", "paragraph", "text", "field"}``, issue 9)
are read the same way, their paragraph shown after the text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .messages import SUBJECTS, VALIDITY, WARNINGS

Gettext = Callable[[str], str]
Number = Callable[[Any], str]

_NUM = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"
_FIELD = re.compile(
    r"^(?P<field>(?:points\[(?P<point>[^\]]+)\]\.?)?[A-Za-z_][A-Za-z0-9_]*(?:\.[0-9A-Za-z_]+)*): (?P<body>.*)$"
)
_FIELD_ONLY_POINT = re.compile(r"^points\[(?P<point>[^\]]+)\]: (?P<body>.*)$")
_CORRECTED = re.compile(
    r"^point (?P<point>\S+): (?P<field>\w+) corrected from (?P<old>.+) to (?P<new>.+) when the survey was resumed$"
)

_FIELD_NAMES = {
    "kind": "kind of point",
    "anode_current_mA": "anode current",
    "anode_voltage_kV": "anode voltage",
    "category": "room category",
    "heights_cm": "heights",
    "design_attenuation_factor": "design attenuation factor K",
    "apparatus_max_voltage_kV": "apparatus maximum voltage",
}


@dataclass(frozen=True)
class Sentence:
    """One warning for the report: who it is about, what it says, and the paragraph if known."""

    subject: str
    text: str
    paragraph: str = ""

    def __str__(self) -> str:
        head = f"{self.subject}: " if self.subject else ""
        tail = f" ({self.paragraph})" if self.paragraph and self.paragraph not in self.text else ""
        return f"{head}{self.text}{tail}"


class Humaniser:
    """Re-writes warnings in one language (``gettext``) with its number format (``number``)."""

    def __init__(
        self,
        gettext: Gettext,
        number: Number,
        day: Callable[[Any], str] = str,
        digits: Callable[[Any], str] = str,
    ):
        self._ = gettext
        self.num = number
        self.day = day
        self.digits = digits

    def _num(self, text: str) -> str:
        try:
            return self.num(float(text))
        except ValueError:
            return text

    def cite(self, text: str) -> str:
        """A source citation ("App. 14 p.32-33; main text p.15") in the report's language."""
        _ = self._
        text = text.replace("App. 14", _("App. 14")).replace("main text", _("main text"))
        text = re.sub(
            r"\bp\.(\d+(?:-\d+)?(?:\(\d+\))?)",
            lambda m: _("p.%(n)s") % {"n": self.digits(m[1].replace("-", "–"))},
            text,
        )
        return re.sub(r"\bTable (\d+)", lambda m: _("Table %(n)s") % {"n": self.digits(m[1])}, text)

    def _units(self) -> dict[str, str]:
        _ = self._
        return {"uGy_h": _("µGy/h"), "keV": _("keV"), "cm": _("cm"), "W_unit": _("mA·min/week")}

    def validity(self, code: str, params: dict[str, str]) -> str:
        """A validity problem (daemon/survey/metadata.py) in the report's language."""
        values = {k: self._range(v) if k in ("range", "required") else v for k, v in params.items()}
        for k in ("error", "permitted"):
            if k in values:
                values[k] = self._num(values[k])
        if "expired" in values:
            values["expired"] = self.day(values["expired"])
        template = VALIDITY.get(code)
        if template is None:
            return code
        return self._(template) % {**self._units(), **values}

    def _range(self, text: str) -> str:
        low, _, high = text.partition("-")
        return f"{self._num(low)}–{self._num(high)}" if high else self._num(text)

    def field_name(self, field: str) -> str:
        """A point field's name for people (``anode_current_mA`` -> "anode current")."""
        return self._(_FIELD_NAMES[field]) if field in _FIELD_NAMES else field

    def subject(self, field: str) -> str:
        """``points[S1].readings_uGy_h.120`` -> "Point S1, 120 cm" (translated)."""
        _ = self._
        m = re.match(r"^points\[(?P<point>[^\]]+)\]\.?(?P<rest>.*)$", field)
        if m:
            point, rest = m["point"], m["rest"]
            h = re.match(r"^readings_uGy_h\.(\d+)$", rest)
            if h:
                return _(SUBJECTS["point_height"]) % {"point": point, "height": self.num(int(h[1])), "cm": _("cm")}
            if rest in _FIELD_NAMES:
                return _(SUBJECTS["point_field"]) % {"point": point, "field": _(_FIELD_NAMES[rest])}
            if not rest or rest in ("readings_uGy_h",):
                return _(SUBJECTS["point"]) % {"point": point}
            return _(SUBJECTS["point_field"]) % {"point": point, "field": rest}
        if field == "background_uGy_h":
            return _(SUBJECTS["background"])
        return _(SUBJECTS["field"]) % {"field": f"«{field}»"}

    def body(self, text: str) -> str:
        """The sentence after the field, re-written from its template when recognised."""
        _ = self._
        u = self._units()
        m = re.match(
            rf"^(\d+) of (\d+) readings outside ({_NUM})-({_NUM}) uGy/h,"
            r" the dose-rate range the instrument declares \((.*)\)$",
            text,
        )
        if m:
            params = {"outside": self.num(int(m[1])), "total": self.num(int(m[2])), "low": self._num(m[3])}
            params["source"] = self.cite(m[5])
            return _(WARNINGS["outside_range"]) % {**u, **params, "high": self._num(m[4])}
        m = re.match(rf"^mean ({_NUM}) uGy/h is below the background ({_NUM}) uGy/h; net dose rate set to 0$", text)
        if m:
            return _(WARNINGS["below_background"]) % {**u, "mean": self._num(m[1]), "background": self._num(m[2])}
        m = re.match(r"^'(.+)' points are measured at (.+) \((.+)\), got (.+)$", text)
        if m:
            expected, got = (re.sub(r" cm$", f" {_('cm')}", t) for t in (m[2], m[4]))
            return _(WARNINGS["kind_heights"]) % {"expected": expected, "source": self.cite(m[3]), "got": got}
        if text == "ignored, the meter compensates background":
            return _(WARNINGS["background_ignored"])
        m = re.match(rf"^({_NUM}) mA is below the 2 mA App\. 14 p\.15 requires in fluoroscopy$", text)
        if m:
            return _(WARNINGS["fluoroscopy_current"]) % {"current": self._num(m[1]), "mA": _("mA")}
        kv = {"kV": _("kV")}
        m = re.match(
            rf"^({_NUM}) kV; App\. 14 p\.15 and the Table 1 note ask for the apparatus maximum ({_NUM}) kV"
            rf" \(below the standard ({_NUM}) kV of (.+)\)$",
            text,
        )
        if m:
            params = {"voltage": self._num(m[1]), "maximum": self._num(m[2]), "standard": self._num(m[3])}
            return _(WARNINGS["voltage_maximum"]) % {**kv, **params, "source": self.cite(_(m[4]))}
        m = re.match(
            rf"^({_NUM}) kV differs from the standard ({_NUM}) kV App\. 14 p\.15 asks for \((.+?)\)(; .*)?$", text
        )
        if m:
            params = {"voltage": self._num(m[1]), "standard": self._num(m[2]), "source": self.cite(_(m[3]))}
            body = _(WARNINGS["voltage_differs"]) % {**kv, **params}
            return f"{body}; {_(WARNINGS['voltage_hint'])}" if m[4] else body
        m = re.match(
            rf"^K = ({_NUM}) from the room's shielding design \((.+)\): E from the measured dose rates is divided by K",
            text,
        )
        if m:
            return _(WARNINGS["attenuation_factor"]) % {"factor": self._num(m[1]), "source": m[2]}
        m = re.match(
            rf"^formula \(3\) decides the verdict: as printed \((.+?)\) E = ({_NUM}) uSv/h, (pass|fail);"
            rf" read consistently with formula \(4\) \((.+?)\) E = ({_NUM}) uSv/h, (pass|fail);"
            r" the evaluation used the (literal|conservative) reading$",
            text,
        )
        if m:
            return _(WARNINGS["formula3_decides"]) % {
                "literal_text": m[1],
                "literal": self._num(m[2]),
                "literal_verdict": _(m[3]),
                "conservative_text": m[4],
                "conservative": self._num(m[5]),
                "conservative_verdict": _(m[6]),
                "used": _(m[7]),
                "uSv_h": _("µSv/h"),
            }
        m = re.match(r"^category (\d+) \((.+)\) is for (.+) apparatus \((.+)\), not '(.+)'$", text)
        if m:
            params = {"category": m[1], "description": _(m[2]), "apparatus": m[3], "source": self.cite(m[4])}
            return _(WARNINGS["category_scope"]) % {**params, "given": f"«{m[5]}»"}
        m = re.match(
            r"^a workplace point in the room of X-ray therapy apparatus '(.+)': App\. 14 p\.26 names the adjacent"
            r" rooms only$",
            text,
        )
        if m:
            return _(WARNINGS["therapy_workplace"]) % {"apparatus": f"«{m[1]}»"}
        m = re.match(r"^unknown field kept as metadata; did you mean '(.+)'\?$", text)
        if m:
            return _(WARNINGS["unknown_field"]) % {"suggestion": f"«{m[1]}»"}
        return text

    def sentence(self, warning: Any) -> Sentence:
        """One warning (a string, or a dict with ``text``/``message``, ``code``, ``paragraph``, ``field``)."""
        paragraph = ""
        field = ""
        if isinstance(warning, dict):
            paragraph = str(warning.get("paragraph") or "")
            field = str(warning.get("field") or "")
            text = str(warning.get("text") or warning.get("message") or warning.get("code") or "")
        else:
            text = str(warning)
        if not field:
            m = _FIELD.match(text) or _FIELD_ONLY_POINT.match(text)
            if m:
                field, text = m.groupdict().get("field") or f"points[{m['point']}]", m["body"]
        elif text.startswith(f"{field}: "):
            text = text[len(field) + 2 :]
        if paragraph and paragraph in text:
            paragraph = ""  # the sentence cites it already
        if field:
            return Sentence(self.subject(field), self.body(text), self.cite(paragraph))
        return Sentence("", self.free(text), self.cite(paragraph))

    def free(self, text: str) -> str:
        """A survey-wide sentence (workload, meter identity, corrections on resume)."""
        _ = self._
        u = self._units()
        m = _CORRECTED.match(text)
        if m:
            field = _(_FIELD_NAMES.get(m["field"], m["field"]))
            body = _(WARNINGS["point_corrected"]) % {"field": field, "old": m["old"], "new": m["new"]}
            return f"{_(SUBJECTS['point']) % {'point': m['point']}}: {body}"
        m = re.match(r"^workload for '(.+)' is a fallback, (.+?): (.+)$", text)
        if m:
            return _(WARNINGS["workload_fallback"]) % {"apparatus": m[1], "value": m[2], "note": _(m[3])}
        m = re.match(
            rf"^apparatus '(.+)' is not in the (\S+) tables; workload ({_NUM}) mA·min/week taken from the survey file$",
            text,
        )
        if m:
            return _(WARNINGS["workload_not_in_tables"]) % {
                **u,
                "apparatus": m[1],
                "profile": m[2],
                "value": self._num(m[3]),
            }
        m = re.match(rf"^workload override ({_NUM}) mA·min/week used instead of ({_NUM}) from (.+)$", text)
        if m:
            params = {"value": self._num(m[1]), "table": self._num(m[2]), "source": _(m[3])}
            return _(WARNINGS["workload_override"]) % {**u, **params}
        m = re.match(
            r"^connected meter (.+) serial (\S+) is not among the recorded instruments \((.*)\);"
            r" check its verification certificate$",
            text,
        )
        if m:
            return _(WARNINGS["meter_not_recorded"]) % {"model": m[1], "serial": m[2], "recorded": m[3]}
        return text
