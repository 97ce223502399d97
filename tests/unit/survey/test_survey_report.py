"""The protocol report: every number is the evaluation's, in every format and language."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date
from html import unescape
from html.parser import HTMLParser
from importlib import resources

import pytest

from radsurvey.daemon.report import CSV_COLUMNS, render_report
from radsurvey.daemon.report.i18n import (
    LANGUAGES,
    formatter,
    gregorian_to_solar_hijri,
    translations,
)
from radsurvey.daemon.survey.evaluation import evaluate_document
from radsurvey.protocols.errors import SurveyError


@pytest.fixture
def doc() -> dict:
    text = resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8")
    return {**json.loads(text), "id": "WE"}


def test_json_report_carries_the_evaluation_unchanged(doc: dict) -> None:
    report = json.loads(render_report(doc, fmt="json"))
    assert report["evaluation"] == evaluate_document(doc).to_dict()
    assert report["verdict"] == "fail"
    assert report["formula3_variant"] == "literal"
    assert report["metadata"]["representative"]["name"] == "C. Example"


def test_csv_has_one_row_per_point_and_height_with_full_precision(doc: dict) -> None:
    rows = list(csv.DictReader(io.StringIO(render_report(doc, fmt="csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["point"] == "background"
    points = [r for r in rows if r["point"] not in ("background", "warning", "conclusion", "audit")]
    assert rows[-1]["point"] == "conclusion" and rows[-1]["conclusion"] == "does_not_comply"
    assert [(r["point"], r["height_cm"]) for r in points] == [
        ("R1", "30"),
        ("R1", "80"),
        ("R1", "120"),
        ("R1", "160"),
        ("S1", "80"),
        ("S1", "120"),
        ("A1", "80"),
    ]
    s1 = evaluate_document(doc).to_dict()["points"][1]
    assert float(points[4]["effective_uSv_h"]) == s1["effective_dose_rate_uSv_h"]
    assert float(points[4]["normalised_uGy_h"]) == s1["heights"]["80"]["normalised_uGy_h"]
    assert points[4]["formula_text"] == "E = 0.25 * (D80 + 0.5*D120)"
    assert points[6]["verdict"] == "fail"


def visible(html: str) -> str:
    """The report's text without its tags (the bidi isolation elements)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_html_report_shows_every_protocol_field(doc: dict) -> None:
    html = visible(render_report(doc, fmt="html", lang="en"))
    for text in (
        "City Polyclinic No. 7 (example)",
        "12 Example Street, Almaty",
        "X-ray department",
        "X-ray room 204",
        "R500-06-1187",
        "No. 0417 of 2008-03-03",
        "Scheduled survey, or when needed",
        "A. Example",
        "C. Example",
        "DR2-0312",
        "VC-08-5531",
        "2009-06-01",
        "water, 250 x 250 x 150 mm",
        "horizontal",
        "2.5 mm Al",
        "literal: E = 0.25 * (D80 + 0.5*D120)",
        "2.88 ± 0.50",  # E = 2.875, U = 0.501: E to U's decimal place, U to two significant figures (GUM 7.2.6)
        "0.411 ± 0.071",
        "2.77 ± 0.48",
        "1.11",
        "Signatures",
        "size: A4",
        "Position of the point",
        "radiographer's position beside the table, 1 m from the beam axis",
    ):
        assert text in html, text


def test_formula3_conservative_variant_is_named_and_used(doc: dict) -> None:
    doc["options"] = {"formula3": "conservative"}
    html = visible(render_report(doc, fmt="html"))
    assert "conservative: E = 0.25 * (D80 + D120)" in html
    s1 = json.loads(render_report(doc, fmt="json"))["points"][1]
    assert s1["effective_uSv_h"] == evaluate_document(doc).points[1].effective_uSv_h  # JSON: full
    u = s1["uncertainty"]["expanded_uSv_h"]
    assert f"{formatter('en').measured(s1['effective_uSv_h'], u)} ± {formatter('en').uncertainty(u)}" in html


def test_russian_report_translates_the_labels(doc: dict) -> None:
    html = render_report(doc, fmt="html", lang="ru")
    assert "Протокол радиационного контроля" in html
    assert 'Мощность эффективной дозы E ± U (k = 2), <span class="u">мкЗв/ч</span>' in html
    assert "2,88 ± 0,50" in html  # decimal comma
    assert "не соответствует" in html


def test_persian_report_is_right_to_left_with_persian_digits_and_solar_hijri_dates(
    doc: dict,
) -> None:
    html = render_report(doc, fmt="html", lang="fa", solar_hijri=True)
    assert '<html lang="fa" dir="rtl">' in html
    assert "۲٫۸۸ ± ۰٫۵۰" in html  # 2.88 ± 0.50 in Persian digits with the Persian decimal separator
    assert "۱۳۸۷/۰۸/۲۴" in html  # 2008-11-14
    assert "گزارش کنترل پرتو" in html


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_every_catalogue_translates_every_label(lang: str) -> None:
    from babel.messages.pofile import read_po

    po = resources.files("radsurvey.daemon.report").joinpath("locale", lang, "LC_MESSAGES", "radsurvey.po")
    with po.open("rb") as fp:
        catalog = read_po(fp)
    missing = [m.id for m in catalog if m.id and not m.string]
    assert missing == []
    assert translations(lang).gettext("Verdict") != "Verdict"


@pytest.mark.parametrize("lang", ["kk", "ro"])
def test_reports_in_unreviewed_languages_say_so(doc: dict, lang: str) -> None:
    html = render_report(doc, fmt="html", lang=lang)
    assert (
        translations(lang).gettext(
            "This translation awaits review by a native-speaking radiation-protection specialist; "
            "the English or Russian report is authoritative."
        )
        in html
    )


@pytest.mark.parametrize(
    ("gregorian", "solar_hijri"),
    [
        (date(2015, 5, 22), (1394, 3, 1)),
        (date(1973, 11, 6), (1352, 8, 15)),
        (date(2024, 3, 19), (1402, 12, 29)),
        (date(2024, 3, 20), (1403, 1, 1)),
        (date(2025, 3, 21), (1404, 1, 1)),
        (date(2026, 9, 22), (1405, 6, 31)),
        (date(2026, 9, 23), (1405, 7, 1)),
    ],
)
def test_solar_hijri_conversion(gregorian: date, solar_hijri: tuple[int, int, int]) -> None:
    assert gregorian_to_solar_hijri(gregorian) == solar_hijri


def test_unknown_language_and_format_are_refused(doc: dict) -> None:
    with pytest.raises(SurveyError, match="unknown language"):
        render_report(doc, lang="de")
    with pytest.raises(SurveyError, match="unknown report format"):
        render_report(doc, fmt="docx")


def test_russian_report_translates_the_protocol_tables_too(doc: dict) -> None:
    html = render_report(doc, fmt="html", lang="ru")
    for text in (
        "Помещения постоянного пребывания персонала группы А",  # category 1
        "Плановый контроль или по необходимости",  # reason
        "Рентгенодиагностические аппараты общего назначения",  # apparatus type
        "Рентгеновский аппарат для рентгенографии",  # workload row
        "Помещение над процедурной",  # point kind
        "утратили силу в 2010 г.",
    ):
        assert text in html, text


class _CellText(HTMLParser):
    """Text inside table cells, each chunk with whether a bidi-isolating element encloses it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.chunks: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "meta", "img"):
            return
        self.stack.append((tag, tag == "bdi" or any(k == "dir" for k, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        tags = [t for t, _ in self.stack]
        if "td" in tags and data.strip():
            inside = tags[tags.index("td") :]
            isolated = any(iso for _, iso in self.stack[len(self.stack) - len(inside) :])
            self.chunks.append((data.strip(), isolated))


def test_persian_report_isolates_latin_and_digits_from_the_right_to_left_layout(doc: dict) -> None:
    doc["facility"] = {**doc["facility"], "address": "12 Example Street, Almaty"}
    html = render_report(doc, fmt="html", lang="fa")
    assert "<bdi>12 Example Street, Almaty</bdi>" in html  # direction from its first letter: left-to-right
    # Persian decimal separator and digits in the formula too (heights in the names stay as written).
    assert '<bdi dir="ltr" class="formula">E = ۰٫۵ * (۰٫۱۵*D160 + ۰٫۳*D120 + ۰٫۵*D80 + ۰٫۰۵*D30)</bdi>' in html
    assert '<bdi dir="ltr" class="tok">R500-06-1187</bdi>' in html  # isolated and on one line
    parser = _CellText()
    parser.feed(html)
    bare = [text for text, isolated in parser.chunks if re.search(r"[A-Za-z0-9]", text) and not isolated]
    assert bare == []


def test_solar_hijri_dates_work_in_any_language_and_say_so(doc: dict) -> None:
    html = visible(render_report(doc, fmt="html", lang="en", solar_hijri=True))
    assert "1387/08/24" in html  # the survey date, 2008-11-14
    assert "Dates are given in the Solar Hijri calendar." in html
    assert "Solar Hijri" not in visible(render_report(doc, fmt="html", lang="en"))


@pytest.mark.parametrize(
    ("lang", "solar_hijri", "shown"),
    [
        ("en", False, "2026-11-22 10:15:03 – 10:42:10 UTC+00:00"),
        ("ru", False, "22.11.2026 10:15:03 – 10:42:10 UTC+00:00"),
        ("fa", True, "۱۴۰۵/۰۹/۰۱ ۱۰:۱۵:۰۳ – ۱۰:۴۲:۱۰ UTC+۰۰:۰۰"),
    ],
)
def test_reading_times_are_printed_readably(doc: dict, lang: str, solar_hijri: bool, shown: str) -> None:
    from radsurvey.daemon.survey.metadata import metadata_from_document

    doc = {**doc, "metadata": {**metadata_from_document(doc)}}
    doc["metadata"].update(measured_from="2026-11-22T10:15:03.123Z", measured_to="2026-11-22T10:42:10.456Z")
    html = render_report(doc, fmt="html", lang=lang, solar_hijri=solar_hijri)
    assert f'<bdi dir="ltr">{shown}</bdi>' in html
    assert "10:15:03.123" not in html


def test_a_span_over_midnight_prints_both_dates() -> None:
    span = formatter("en").time_span("2026-11-22T23:50:00Z", "2026-11-23T00:10:00.5Z")
    assert span == "2026-11-22 23:50:00 – 2026-11-23 00:10:00 UTC+00:00"


@pytest.mark.parametrize(
    ("lang", "texts"),
    [
        ("ru", ["Прил. 14, табл. 1, строка 3"]),
        ("kk", ["А тобындағы персонал тұрақты болатын үй-жайлар", "14-қосымша, 1-кесте, 3-жол"]),
        ("fa", ["اتاق‌های حضور دائم کارکنان گروه الف", "پیوست ۱۴، جدول ۱، ردیف ۳"]),
        ("ro", ["Încăperi cu prezență permanentă a personalului din grupa A", "Anexa 14, tabelul 1, rândul 3"]),
    ],
)
def test_reports_translate_the_protocol_tables_and_their_sources(doc: dict, lang: str, texts: list[str]) -> None:
    html = visible(render_report(doc, fmt="html", lang=lang))
    for text in texts:
        assert text in html, text
    assert "App. 14 Table 1 row 3" not in html
