"""Issue 21 §3: the method warnings reach the report in every language (the catalogues' sentences, filled)."""

from __future__ import annotations

import copy
import html
import json
from pathlib import Path

import pytest

from radsurvey.daemon.report import render_report
from radsurvey.daemon.report.i18n import LANGUAGES

EXAMPLE = json.loads((Path(__file__).parents[3] / "protocols/examples/worked-example.json").read_text())


def survey(apparatus: str, point: dict) -> dict:
    doc = copy.deepcopy(EXAMPLE)
    doc["apparatus"] = apparatus
    doc["points"] = [{"id": "W1", "room": "room 2", "anode_current_mA": 2, **point}]
    doc["background_uGy_h"] = [0.1, 0.1, 0.1]
    return doc


CASES = {
    # radiography, 2 mA: 21.7 uGy/h -> normalised 6; literal 2.25 (pass), conservative 3 (fail) against 2.5
    "formula3": survey("radiography", {"kind": "wall", "category": 2, "readings_uGy_h": {"80": [21.7] * 3,
                                                                                       "120": [21.7] * 3}}),
    "category_scope": survey("radiography", {"kind": "above", "category": 7, "readings_uGy_h": {"80": [0.2] * 3}}),
    "therapy": survey("therapy_short_distance", {"kind": "workplace", "category": 1, "anode_current_mA": 10,
                                                 "readings_uGy_h": {h: [0.5] * 3 for h in ("30", "80", "120", "160")}}),
}  # fmt: skip
ENGLISH = {
    "formula3": "formula (3) decides the verdict",
    "category_scope": "apparatus (App. 14 Table 2 row 7), not",
    "therapy": "names the adjacent rooms only",
}
IN_LANGUAGE = {
    "ru": {"formula3": "вердикт решает прочтение формулы (3)", "category_scope": "относится к аппаратам",
           "therapy": "называет только смежные помещения"},
    "kk": {"formula3": "қорытындыны (3) формуласының оқылуы шешеді", "category_scope": "аппараттарына арналған",
           "therapy": "тек іргелес үй-жайларды атайды"},
    "fa": {"formula3": "خوانش فرمول (۳) حکم را تعیین می‌کند", "category_scope": "برای دستگاه‌های",
           "therapy": "فقط اتاق‌های مجاور را نام می‌برد"},
    "ro": {"formula3": "formula (3) decide verdictul", "category_scope": "este pentru aparatele",
           "therapy": "numește doar încăperile învecinate"},
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_method_warning_is_in_the_report_in_every_language(case: str, lang: str) -> None:
    page = html.unescape(render_report(CASES[case], fmt="html", lang=lang))
    expected = ENGLISH[case] if lang == "en" else IN_LANGUAGE[lang][case]
    assert expected in page, (lang, case)
    if lang != "en":
        assert ENGLISH[case] not in page  # translated, not left in English
    if case == "formula3":
        assert "2.25" in page.replace(",", ".") or "۲٫۲۵" in page


def test_the_guided_survey_explains_the_formula3_choice_in_one_line() -> None:
    from radsurvey.daemon.survey.capture import formula3_note
    from radsurvey.protocols.profiles import get_profile

    note = formula3_note(get_profile("kz-2008-303"), "literal")
    assert "\n" not in note
    assert "read literal here (E = 0.25 * (D80 + 0.5*D120))" in note and "E = 0.25 * (D80 + D120)" in note
    assert "0.375·D" in note and "0.5·D" in note
