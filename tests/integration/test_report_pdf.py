"""The printed report: HTML rendered to PDF by headless Chromium, read back with pdftotext."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from radsurvey.daemon.report import write_report
from radsurvey.daemon.report.i18n import formatter
from radsurvey.daemon.report.pdf import ReportError, find_chromium
from radsurvey.daemon.survey.evaluation import evaluate_document

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext)"),
]


@pytest.fixture
def doc() -> dict:
    text = resources.files("radsurvey.protocols.examples").joinpath("worked-example.json").read_text(encoding="utf-8")
    return {**json.loads(text), "id": "WE"}


@pytest.fixture
def chromium() -> str:
    try:
        return find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")


def pdf_text(path: Path, *, layout: bool = False) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def pdf_pages(path: Path) -> tuple[int, str]:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    size = re.search(r"Page size:\s+(.*)", info).group(1)
    return pages, size


def test_pdf_report_on_a4_carries_the_evaluation_numbers(doc: dict, chromium: str, tmp_path: Path) -> None:
    out = write_report(doc, tmp_path / "report.pdf", fmt="pdf", lang="en")
    pages, size = pdf_pages(out)
    assert "(A4)" in size
    assert pages >= 1
    text = pdf_text(out)
    evaluation = evaluate_document(doc)
    number = formatter("en").number
    for point in evaluation["points"]:
        assert f"Point {point['id']}" in text
        assert number(point["effective_dose_rate_uSv_h"]) in text
        assert number(point["limit_uSv_h"]) in text
        for height in point["heights"].values():
            assert number(height["normalised_uGy_h"]) in text
    assert "The measured dose rates exceed the permissible level" in text
    assert "City Polyclinic No. 7 (example)" in text
    assert "VC-08-5531" in text


def test_persian_pdf_is_laid_out_right_to_left(doc: dict, chromium: str, tmp_path: Path) -> None:
    out = write_report(doc, tmp_path / "report-fa.pdf", fmt="pdf", lang="fa", solar_hijri=True)
    text = pdf_text(out, layout=True)
    assert "۱۳۸۷/۰۸/۲۴" in text
    # Right-to-left: a label row ends (right margin) with its Persian label, with the
    # value to its left; in the English PDF the label starts the line.
    bidi_marks = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f"))
    # The page header repeats the number on every page; the table row is the line the label ends.
    rows = [ln for ln in text.translate(bidi_marks).splitlines() if ln.rstrip().endswith("شماره گزارش")]
    assert rows, "no right-to-left label row"
    assert all(ln.index("WE-2008-014") < ln.index("شماره گزارش") for ln in rows)


def test_persian_pdf_keeps_latin_values_numbers_and_formulas_in_their_own_order(
    doc: dict, chromium: str, tmp_path: Path
) -> None:
    doc["facility"] = {**doc["facility"], "address": "12 Example Street, Almaty"}
    out = write_report(doc, tmp_path / "report-fa.pdf", fmt="pdf", lang="fa")
    bidi_marks = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f\u2066\u2067\u2068\u2069"))
    text = pdf_text(out, layout=True).translate(bidi_marks)
    assert "12 Example Street, Almaty" in text  # not "Example Street, Almaty 12"
    assert "2.5 mm Al" in text and "180 x 180 mm" in text
    assert "E = ۰٫۵ * (۰٫۱۵*D160 + ۰٫۳*D120 + ۰٫۵*D80 + ۰٫۰۵*D30)" in text


def test_missing_chromium_is_one_clear_error(doc: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("RADSURVEY_CHROMIUM", raising=False)
    with pytest.raises(ReportError, match="apt-get install chromium"):
        write_report(doc, tmp_path / "r.pdf", fmt="pdf")


def test_pdf_to_a_path_that_cannot_be_written_is_one_clear_error(doc: dict, chromium: str, tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="cannot write the report: is a directory") as err:
        write_report(doc, tmp_path, fmt="pdf")
    assert str(tmp_path) in str(err.value)
    (tmp_path / "plain-file").write_text("x", encoding="utf-8")
    with pytest.raises(ReportError, match="plain-file is not a directory"):
        write_report(doc, tmp_path / "plain-file" / "r.pdf", fmt="pdf")
