"""The shielding calculation document of a room (HTML A4, PDF, JSON) in the report's five languages.

Every number comes from ``radsurvey.protocols.shielding.room.calculate_room``;
this module only formats it with the protocol report's machinery (catalogues,
number formats, Chromium PDF).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import ShieldingError
from radsurvey.protocols.shielding.room import RoomResult

from .i18n import LANGUAGES, formatter, template_environment, translations
from .pdf import ReportError, prepare_target

FORMATS = ("html", "pdf", "json")


# The choices radsurvey takes where the source is silent or defective, one sentence each, as the
# document prints them (docs/shielding.md "Choices the source leaves open").
def N_(text: str) -> str:
    return text


# fmt: off
CHOICES = {
    "next_row_up": N_("K between two rows of App. 8 Table 2: the next row up (the source gives no rule; it never under-shields)."),  # noqa: E501
    "kv_interpolated": N_("Anode voltage between two columns of Table 2: lead interpolated linearly in kV (the rule the source gives for Table 3)."),  # noqa: E501
    "below_first_column": N_("Anode voltage below the first column of the table: the first column is used."),
    "unreadable_cell": N_("A cell of Table 2 that the source leaves empty or garbles is not used: the next row up is taken."),  # noqa: E501
    "no_lead_needed": N_("D0 does not exceed DMD: Table 2 asks for no lead."),
    "p62_minimum": N_("Raised to the minimum of 0.25 mm Pb for stationary protective means (p.62)."),
    "kr_higher_neighbour": N_("K_R at a voltage between two columns of App. 8 Table 1: the higher of the two values."),
    "p66_no_shielding": N_("Floor on the ground or ceiling under the roof: no shielding in this direction (p.66)."),
    "density_inverse": N_("Density other than the table's: the thickness is credited in proportion to the density (mass per area); the source's sentence says the reverse."),  # noqa: E501
    "layers_added": N_("The lead equivalents of the layers are added."),
    "table3_row_below": N_("A material thickness between rows of App. 8 Table 3: the lead row below (no interpolation between rows)."),  # noqa: E501
}
# fmt: on
BEAMS = {"primary": N_("primary beam"), "moving": N_("moving source"), "scatter": N_("scattered radiation")}
VERDICTS = {True: N_("sufficient"), False: N_("not sufficient"), None: N_("no installed barrier given")}


def render_room_json(result: RoomResult) -> str:
    return json.dumps(result.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def render_room_html(result: RoomResult, *, lang: str = "en") -> str:
    if lang not in LANGUAGES:
        raise ShieldingError(f"unknown language {lang!r}; use one of {', '.join(LANGUAGES)}", field="lang")
    t = translations(lang)
    env = template_environment(t)
    _ = t.gettext
    fmt = formatter(lang)
    env.filters["num"] = fmt.number
    env.filters["day"] = fmt.date
    env.filters["digits"] = fmt.digits
    first: dict[str, Any] = {}
    for barrier in result.barriers:
        for apparatus_id, barrier_result in barrier.results:
            first.setdefault(apparatus_id, barrier_result)
    apparatus_rows = [(a, first.get(a.id)) for a in result.design.apparatus]
    return env.get_template("shielding.html.j2").render(
        result=result,
        design=result.design,
        apparatus_rows=apparatus_rows,
        lang=lang,
        dir="rtl" if lang == "fa" else "ltr",
        today=date.today(),
        choices={code: _(text) for code, text in CHOICES.items()},
        beams={k: _(v) for k, v in BEAMS.items()},
        verdicts={k: _(v) for k, v in VERDICTS.items()},
        review_note=lang not in ("en", "ru"),
    )


def write_room_document(result: RoomResult, out: Path, *, fmt: str = "html", lang: str = "en") -> Path:
    """The document into ``out`` (html, pdf or json)."""
    if fmt not in FORMATS:
        raise ShieldingError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}", field="format")
    if fmt == "pdf":
        from .pdf import html_to_pdf

        return html_to_pdf(render_room_html(result, lang=lang), out)
    text = render_room_json(result) if fmt == "json" else render_room_html(result, lang=lang)
    prepare_target(out)
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        raise ReportError(f"cannot write the document: {err.strerror or err}", source=str(out)) from None
    return out


def document_text(result: RoomResult, *, fmt: str, lang: str) -> str:
    """html or json as text (pdf is a file: use write_room_document)."""
    if fmt == "json":
        return render_room_json(result)
    if fmt == "html":
        return render_room_html(result, lang=lang)
    raise ShieldingError("pdf is a file format: give --out", field="format")


__all__ = ["CHOICES", "FORMATS", "document_text", "render_room_html", "render_room_json", "write_room_document"]
