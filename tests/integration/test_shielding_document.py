"""The room's shielding calculation document, printed to PDF by Chromium in five languages and read back."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from radsurvey.daemon.report.pdf import ReportError, find_chromium
from radsurvey.daemon.report.shielding import write_room_document
from radsurvey.protocols.shielding.room import calculate_room, parse_room_text

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext)"),
]

ROOM = resources.files("radsurvey.protocols.examples").joinpath("shielding-room.toml")

# (language, title, word for "not sufficient", decimal 2.2, "Paragraphs used")
EXPECTED = [
    ("en", "Shielding calculation", "not sufficient", "2.2", "Paragraphs used"),
    ("ru", "Расчёт радиационной защиты", "недостаточна", "2,2", "Применённые пункты"),
    ("kk", "Радиациялық қорғауды есептеу", "жеткіліксіз", "2,2", "Қолданылған тармақтар"),
    (
        "fa",
        "حفاظ پرتوی",  # pdftotext reorders the hamza of "محاسبهٔ"
        "ناکافی",
        "۲٫۲",
        "بندهای به‌کاررفته",
    ),
    ("ro", "Calculul ecranării", "insuficientă", "2,2", "Paragrafe aplicate"),
]


@pytest.fixture(scope="module")
def result():
    return calculate_room(parse_room_text(ROOM.read_text(encoding="utf-8"), "shielding-room.toml"))


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True, timeout=60).stdout


def squash(text: str) -> str:
    """Words separated by single spaces, without the bidi embedding marks pdftotext adds."""
    return " ".join(text.translate(dict.fromkeys(range(0x202A, 0x202F))).split())


@pytest.mark.parametrize(
    ("lang", "title", "insufficient", "lead", "paragraphs"), EXPECTED, ids=[e[0] for e in EXPECTED]
)
def test_the_room_document_prints_every_barrier_in_each_language(
    result, tmp_path: Path, lang: str, title: str, insufficient: str, lead: str, paragraphs: str
) -> None:
    try:
        find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")
    out = write_room_document(result, tmp_path / f"room-{lang}.pdf", fmt="pdf", lang=lang)
    text = squash(pdf_text(out))
    assert title in text and "Procedure room 12" in text
    for barrier in ("W1", "W2", "C1", "F1", "D1"):
        assert barrier in text
    assert insufficient in text  # D1, 0.5 mm of lead where 0.9 mm is needed, and the conclusion
    assert lead in text  # W1's required lead
    assert paragraphs in text and "p.66" in text and "App. 7 row 5" in text


def test_the_survey_report_shows_the_designs_predicted_e_beside_the_measured(tmp_path: Path) -> None:
    import json

    from radsurvey.daemon.report import write_report

    try:
        find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")
    examples = resources.files("radsurvey.protocols.examples")
    doc = json.loads(examples.joinpath("worked-example.json").read_text(encoding="utf-8"))
    room = tmp_path / "room.toml"
    room.write_text(ROOM.read_text(encoding="utf-8"), encoding="utf-8")
    doc.update(id="WE", shielding_design=str(room))
    doc["points"][1]["barrier"] = "W1"
    out = write_report(doc, tmp_path / "report.pdf", fmt="pdf", lang="ru")
    text = squash(pdf_text(out))
    assert "Проект защиты, ограждение W1 (Procedure room 12)" in text
    # predicted E = 0.5 * 75 000 / 60 000 = 0.625; measured E at S1 = 0.411458 (printed to the report's rounding)
    predicted = text.split("E по проекту защиты, мкЗв/ч", 1)[1]
    assert predicted.lstrip().startswith("0,625")
    measured = predicted.split("E по измеренной мощности дозы, мкЗв/ч", 1)[1]
    assert measured.lstrip().startswith("0,41")
