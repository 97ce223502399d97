"""The report as a document to sign: validity before verdict, uncertainty, decision rule, warnings, audit, plan."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from typing import Any

import pytest

import radsurvey.daemon.survey.evaluation as survey_evaluation
from radsurvey.daemon.report import render_report
from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.evaluation import Finding, PointEvaluation, SurveyEvaluation
from tests.report_documents import six_point_survey


def json_report(doc: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return json.loads(render_report(doc, fmt="json", **kw))


def csv_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(render_report(doc, fmt="csv"))))


def test_an_expired_certificate_concludes_not_valid_in_json_csv_and_html() -> None:
    doc = six_point_survey(expired=True)
    data = json_report(doc)
    assert data["verdict"] == "fail"  # the evaluation's verdict is kept beside the conclusion
    assert data["conclusion"] == "not_valid"
    (reason,) = data["validity"]
    assert reason["code"] == "certificate_expired" and reason["paragraph"] == "p.33"
    assert "expired on 2026-06-01" in reason["text"]
    assert data["next_survey_due"] is None
    rows = csv_rows(doc)
    assert {r["conclusion"] for r in rows} == {"not_valid"}
    assert "expired on 2026-06-01" in rows[[r["point"] for r in rows].index("conclusion")]["detail"]
    html = render_report(doc, fmt="html", lang="ru")
    # Shown first: the reasons come before the first numbered section.
    assert html.index("Заключение: недействителен") < html.index("1. Учреждение")
    assert html.index("истёк 01.06.2026, до даты контроля") < html.index("1. Учреждение")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"sanitary_conclusion": ""}, "no_sanitary_conclusion"),
        ({"energy_min_keV": 50}, "energy_range_narrow"),
        ({"dose_rate_max_uGy_h": 100}, "dose_rate_range_narrow"),
    ],
)
def test_a_missing_p6_conclusion_or_narrow_ranges_also_conclude_not_valid(change: dict[str, Any], code: str) -> None:
    doc = six_point_survey(expired=False)
    meta = doc["metadata"]
    if "sanitary_conclusion" in change:
        meta["apparatus"].update(change)
    else:
        meta["instruments"][0].update(change)
    data = json_report(doc)
    assert data["conclusion"] == "not_valid"
    assert [v["code"] for v in data["validity"]] == [code]


def test_a_valid_survey_with_a_failing_point_names_it_and_asks_for_a_resurvey() -> None:
    doc = six_point_survey(expired=False)
    data = json_report(doc)
    assert data["conclusion"] == "does_not_comply"
    assert data["failing_points"] == ["A1"]
    html = render_report(doc, fmt="html", lang="en")
    assert "The measured dose rates exceed the permissible level at points:" in html
    assert "surveyed again after it" in html


def test_a_complying_survey_states_the_next_quarterly_survey() -> None:
    doc = six_point_survey(expired=False)
    doc["points"] = [p for p in doc["points"] if p["id"] != "A1"]
    data = json_report(doc)
    assert data["conclusion"] == "complies"
    assert data["next_survey_due"] == "2027-03-01"  # 2026-12-01 + 3 months (main text p.107(1))
    assert "01.03.2027" in render_report(doc, fmt="html", lang="ru")


def test_each_point_carries_its_gum_budget_beside_e() -> None:
    data = json_report(six_point_survey())
    a1 = next(p for p in data["points"] if p["id"] == "A1")
    u = a1["uncertainty"]
    assert u["coverage_factor"] == 2
    assert u["expanded_uSv_h"] == pytest.approx(2 * u["combined_uSv_h"])
    assert {c["quantity"] for c in u["components"]} == {"repeats@80", "background", "instrument"}
    # The instrument term: E * 15 % / sqrt(3) (rectangular, GUM 4.3.7), the largest here.
    instrument = next(c for c in u["components"] if c["quantity"] == "instrument")
    assert instrument["contribution_uSv_h"] == pytest.approx(a1["effective_uSv_h"] * 0.15 / 3**0.5)
    assert u["per_height"]["80"]["std_dev_uGy_h"] == pytest.approx(0.1)
    assert a1["straddles_limit"] is True  # 2.77 +- 0.48 around 2.5


def test_guarded_acceptance_from_the_survey_metadata_fails_a_point_close_below_the_limit() -> None:
    doc = six_point_survey(expired=False)
    # S1 (category 2, DMD_E 2.5): E = 0.25 * 1000/7200 * (49.9 + 0.5 * 38.4333) = 2.39999, U about 0.42.
    doc["points"] = [p for p in doc["points"] if p["id"] in ("R1", "S1")]
    doc["points"][1]["readings_uGy_h"] = {"80": [48.0, 50.0, 52.0], "120": [38.5, 38.5, 38.6]}
    simple = json_report(doc)
    s1 = next(p for p in simple["points"] if p["id"] == "S1")
    assert s1["effective_uSv_h"] < 2.5 < s1["effective_uSv_h"] + s1["uncertainty"]["expanded_uSv_h"]
    assert simple["conclusion"] == "complies"
    doc["metadata"]["decision_rule"] = "guarded"
    guarded = json_report(doc)
    assert guarded["decision_rule"] == "guarded"
    assert guarded["conclusion"] == "does_not_comply" and guarded["failing_points"] == ["S1"]
    assert "guarded acceptance (ILAC-G8:09/2019 §4.2.2)" in render_report(doc, fmt="html")


def test_warnings_read_as_sentences_for_people_in_the_reports_language() -> None:
    doc = six_point_survey()
    doc["metadata"]["instruments"][0].update(dose_rate_min_uGy_h=0.1, dose_rate_max_uGy_h=1000)
    html = render_report(doc, fmt="html", lang="ru")
    assert "points[" not in html and "readings_uGy_h" not in html and "background_uGy_h" not in html
    assert "Точка B1, 120 см: 3 из 3 показаний вне диапазона 0,1–1000 мкГр/ч, заявленного для прибора" in html
    assert "Фон: 1 из 3 показаний вне диапазона" in html
    assert "(Прил. 14 п. 32–33; осн. текст п. 15)" in html


def test_structured_warnings_and_measured_heights_from_the_evaluation_are_rendered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fields issue 9 adds to the evaluation (contract in notes/branches.md), when they are present."""
    real = survey_evaluation.evaluate_document

    def with_issue_9_fields(doc: dict[str, Any], *, source: str | None = None) -> SurveyEvaluation:
        result = real(doc, source=source)
        finding = Finding("current too low", "p15_current_low", "p.15", "anode_current_mA")

        def patched(p: PointEvaluation) -> PointEvaluation:
            if p.id != "S1":
                return p
            heights = tuple(
                replace(h, height_cm=118, nominal_height_cm=120) if h.height_cm == 120 else h for h in p.heights
            )
            return replace(
                p,
                heights=heights,
                design_attenuation_factor={"value": 2.0, "source": "shielding design"},
                effective_measured_uSv_h=p.effective_uSv_h,
                effective_uSv_h=p.effective_uSv_h / 2,
                warnings=(finding,),
            )

        # The survey's list holds every point's warnings, their field placed inside the point.
        field = "points[S1].anode_current_mA"
        survey_finding = Finding("current too low", "p15_current_low", "p.15", field)
        return replace(
            result, points=tuple(patched(p) for p in result.points), warnings=(*result.warnings, survey_finding)
        )

    monkeypatch.setattr(survey_evaluation, "evaluate_document", with_issue_9_fields)
    doc = six_point_survey()
    html = render_report(doc, fmt="html", lang="en")
    assert "measured at 118" in html
    assert "Design attenuation factor K" in html
    assert "Point S1, anode current: current too low (p.15)" in html
    assert html.count("current too low") == 1
    data = json_report(doc)
    s1 = next(p for p in data["points"] if p["id"] == "S1")
    assert s1["effective_uSv_h"] == pytest.approx(0.411458333 / 2)


def test_retakes_and_edits_appear_in_an_annex_and_in_json_and_csv() -> None:
    doc = six_point_survey()
    html = render_report(doc, fmt="html", lang="ru")
    annex = html[html.index("Приложение А") :]
    assert "показания отброшены (повторное измерение)" in annex
    assert "01.12.2026 09:31:10 UTC+05:00" in annex  # 04:31:10Z in the site's time zone, with its offset
    assert "анодный ток" in annex and "4 → 2" in annex
    assert [e["action"] for e in json_report(doc)["audit"]] == ["discarded", "edited"]
    audit = [r for r in csv_rows(doc) if r["point"] == "audit"]
    assert [(r["room"], r["kind"], r["at"]) for r in audit] == [
        ("A1", "discarded", "2026-12-01T04:31:10Z"),
        ("S2", "edited", "2026-12-01T05:02:00Z"),
    ]


def test_the_room_plan_marks_points_by_shape_and_label_not_colour_alone() -> None:
    html = render_report(six_point_survey(expired=False), fmt="html", lang="en")
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert "A1 (does not comply)" in svg and "R1 (complies)" in svg
    assert svg.count("<rect") == 2  # A1's square and the legend's; passing points are circles
    assert "B1" not in svg  # no plan coordinates: not drawn
    assert "<polygon" in svg  # the room outline


def test_conditions_show_the_voltages_and_currents_actually_used() -> None:
    html = render_report(six_point_survey(), fmt="html", lang="ru")
    assert 'U = 100 кВ</bdi>, <bdi class="nb">I = 2 мА' in html
    assert "R1, R2, S1, A1, B1" in html and '(точки <bdi dir="ltr">S2</bdi>)' in html


def test_an_unknown_time_zone_is_refused_naming_the_field() -> None:
    doc = six_point_survey()
    doc["metadata"]["timezone"] = "Mars/Olympus"
    with pytest.raises(SurveyError, match=r"metadata\.timezone"):
        render_report(doc, fmt="json")


# -- the CSV carries the warnings; a limits profile is stated in every language -----------------------


def _html_warnings(html: str) -> list[str]:
    import re
    from html import unescape

    block = re.search(r'<ul class="warnings">(.*?)</ul>', html, re.S)
    assert block is not None, "no warnings list in the HTML"
    return [unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", block[1], re.S)]


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_csv_warning_rows_say_what_the_html_says_with_code_paragraph_and_field(lang: str) -> None:
    doc = six_point_survey(expired=True)
    doc["metadata"]["instruments"][0].update(dose_rate_min_uGy_h=0.1, dose_rate_max_uGy_h=1000)
    rows = list(csv.DictReader(io.StringIO(render_report(doc, fmt="csv", lang=lang))))
    warnings = [r for r in rows if r["point"] == "warning"]
    assert [r["detail"] for r in warnings] == _html_warnings(render_report(doc, fmt="html", lang=lang))
    assert [(r["code"], r["paragraph"], r["field"]) for r in warnings] == [
        ("outside_instrument_range", "p.32", "background_uGy_h"),
        ("outside_instrument_range", "p.32", "points[B1].readings_uGy_h.120"),
        ("below_background", "p.14", "points[B1].readings_uGy_h.120"),
    ]
    assert all("points[" not in r["detail"] and "uGy/h" not in r["detail"] for r in warnings)
    if lang == "en":
        assert warnings[2]["detail"] == (
            "Point B1, 120 cm: mean 0.0633333 µGy/h is below the background 0.1 µGy/h; net dose rate set to 0 (p.14)"
        )
    if lang == "ru":
        assert warnings[1]["detail"].startswith("Точка B1, 120 см: 3 из 3 показаний вне диапазона 0,1–1000 мкГр/ч")
    # The warning rows sit between the point rows and the conclusion; their conclusion column is the survey's.
    kinds = [r["point"] for r in rows]
    assert kinds.index("warning") > max(i for i, k in enumerate(kinds) if k == "B1")
    assert kinds.index("conclusion") > max(i for i, k in enumerate(kinds) if k == "warning")
    assert {r["conclusion"] for r in warnings} == {"not_valid"}


def test_csv_columns_of_0_1_keep_their_positions_and_the_new_ones_follow() -> None:
    head = next(csv.reader(io.StringIO(render_report(six_point_survey(expired=True), fmt="csv"))))
    assert head[:24] == [
        "survey", "point", "room", "category", "kind", "height_cm", "readings_uGy_h", "mean_uGy_h", "net_uGy_h",
        "normalised_uGy_h", "below_background", "formula", "formula_text", "effective_uSv_h", "limit_uSv_h", "ratio",
        "verdict", "std_dev_uGy_h", "expanded_uncertainty_uSv_h", "decision", "straddles_limit", "conclusion", "at",
        "detail",
    ]  # fmt: skip
    assert head[24:] == ["code", "paragraph", "field"]


def test_a_survey_without_warnings_has_no_warning_rows() -> None:
    doc = six_point_survey(expired=False)
    doc["background_uGy_h"] = [0.1, 0.11, 0.12]
    doc["points"] = [p for p in doc["points"] if p["id"] != "B1"]
    assert json_report(doc)["warnings"] == []
    assert [r for r in csv_rows(doc) if r["point"] == "warning"] == []


LIMITS_ONLY = {
    "en": "Dose limits: ir-1973-limits v1, which defines dose limits only, no survey method; the survey maths "
    "(formulas, permissible dose rates, verdicts) are those of the survey profile kz-2008-303 v2.",
    "ru": "Пределы доз: ir-1973-limits, версия 1; этот профиль задаёт только пределы доз, без методики контроля; "
    "расчёты контроля (формулы, ДМД Е, заключения о соответствии) выполнены по профилю методики kz-2008-303, версия 2.",
    "kk": "Доза шектері: ir-1973-limits, 1 нұсқасы; бұл профиль тек доза шектерін белгілейді, бақылау әдістемесі жоқ; "
    "бақылау есептеулері (формулалар, ДМД Е, сәйкестік туралы қорытындылар) kz-2008-303 әдістеме профилі бойынша, "
    "2 нұсқасы.",
    "fa": "حدود دز: ir-1973-limits، نسخهٔ ۱، که فقط حدود دز را تعیین می‌کند و روش اندازه‌گیری ندارد؛ محاسبات "
    "اندازه‌گیری (فرمول‌ها، آهنگ‌های دز مجاز، نتیجه‌ها) مطابق پروفایل روش اندازه‌گیری kz-2008-303، نسخهٔ ۲ است.",
    "ro": "Limite de doză: ir-1973-limits, versiunea 1, care stabilește numai limite de doză, fără metodă de măsurare; "
    "calculele măsurătorii (formule, debite de doză admise, verdicte) sunt cele ale profilului de măsurare "
    "kz-2008-303, versiunea 2.",
}


def _limits_line(html: str) -> str | None:
    import re
    from html import unescape

    m = re.search(r'<div class="limits">(.*?)</div>', html, re.S)
    return unescape(re.sub(r"<[^>]+>", "", m[1])) if m else None


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_a_limits_profile_is_stated_in_the_html_report_in_its_language(lang: str) -> None:
    doc = six_point_survey(expired=False)
    assert _limits_line(render_report(doc, fmt="html", lang=lang)) is None  # no limits profile, no line
    doc["limits_profile"] = "ir-1973-limits"
    assert _limits_line(render_report(doc, fmt="html", lang=lang)) == LIMITS_ONLY[lang]
    if lang == "en":  # the JSON report's statement is the English one
        assert json_report(doc)["limits_statement"] == LIMITS_ONLY["en"]


def test_a_limits_profile_that_is_also_a_survey_method_is_stated_too() -> None:
    doc = six_point_survey(expired=False)
    doc["limits_profile"] = "kz-2008-303"
    assert _limits_line(render_report(doc, fmt="html", lang="ro")) == (
        "Limite de doză: kz-2008-303, versiunea 2. Metoda de măsurare și calculele: kz-2008-303."
    )


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
@pytest.mark.parametrize("with_plan", [True, False])
def test_sections_are_numbered_without_a_gap(lang: str, with_plan: bool) -> None:
    import re

    from radsurvey.daemon.report.i18n import formatter

    doc = six_point_survey()
    doc["metadata"]["notes"] = "door closer replaced"
    if not with_plan:
        doc["metadata"].pop("plan_outline_m")
        for point in doc["points"]:
            point.pop("plan_x_m", None), point.pop("plan_y_m", None)
    html = render_report(doc, fmt="html", lang=lang)
    numbers = re.findall(r"<h2>([0-9۰-۹]+)\. ", html)
    expected = [formatter(lang).digits(n) for n in range(1, len(numbers) + 1)]
    assert numbers == expected
    assert len(numbers) == (11 if with_plan else 10)


def test_values_are_printed_to_the_resolution_of_their_uncertainty_and_json_keeps_them_whole() -> None:
    from html import unescape

    doc = six_point_survey()
    html = unescape(render_report(doc, fmt="html", lang="en"))
    a1 = next(p for p in json_report(doc)["points"] if p["id"] == "A1")
    assert a1["effective_uSv_h"] == pytest.approx(2.7708333333, rel=1e-9)  # JSON: full precision
    assert round(a1["uncertainty"]["expanded_uSv_h"], 2) == 0.48
    assert "2.77 ± 0.48" in html and "2.77083" not in html
    assert "1.11" in html and "1.10833" not in html  # E / limit to the decimal place of U / limit
