"""The printed report: HTML rendered to PDF by headless Chromium, read back with pdftotext."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest

from radsurvey.daemon.report import render_report, write_report
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
    report = json.loads(render_report(doc, fmt="json"))
    fmt = formatter("en")
    for point, judged in zip(evaluation.to_dict()["points"], report["points"], strict=True):
        assert f"Point {point['id']}" in text
        # E to the decimal place of U, U to two significant figures (GUM 7.2.6); the JSON keeps full precision.
        u = judged["uncertainty"]["expanded_uSv_h"]
        assert judged["effective_uSv_h"] == point["effective_dose_rate_uSv_h"]
        assert f"{fmt.measured(point['effective_dose_rate_uSv_h'], u)} ± {fmt.uncertainty(u)}" in text
        assert fmt.number(point["limit_uSv_h"]) in text
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


# -- the protocol as a signed document: pages, numbers, signatures, validity --------------------------

BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u200e\u200f\u2066\u2067\u2068\u2069"))
PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
# What each language prints on every page, and the words that must sit on the signature page.
PAGE_LABEL = {
    "en": lambda n, m: f"Page {n} of {m}",
    "ru": lambda n, m: f"Страница {n} из {m}",
    "kk": lambda n, m: f"{m} беттің {n}-беті",
    "ro": lambda n, m: f"Pagina {n} din {m}",
    "fa": lambda n, m: ("صفحه", str(n).translate(PERSIAN), "از", str(m).translate(PERSIAN)),
}
SIGNATURES = {
    "en": ("Signatures", "Head of the laboratory"),
    "ru": ("Подписи", "Руководитель лаборатории"),
    "kk": ("Қолдар", "Зертхана меңгерушісі"),
    "ro": ("Semnături", "Șeful laboratorului"),
    "fa": ("امضاءها", "رئیس آزمایشگاه"),
}
NOT_VALID = {"en": "not valid", "ru": "недействителен", "kk": "жарамсыз", "ro": "nevalabil", "fa": "فاقد اعتبار"}
FIELD_PATH = re.compile(r"points\[|readings_uGy_h|background_uGy_h|anode_current_mA|uGy/h|uSv/h")


def page_texts(path: Path) -> list[str]:
    pages, _ = pdf_pages(path)
    return [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(n), "-l", str(n), str(path), "-"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.translate(BIDI)
        for n in range(1, pages + 1)
    ]


def has_page_label(text: str, lang: str, n: int, m: int) -> bool:
    label = PAGE_LABEL[lang](n, m)
    if isinstance(label, str):
        return label in " ".join(text.split())
    # Persian: the footer line holds the word and both numbers (extraction order of RTL runs varies).
    footer = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "")
    return all(part in footer for part in label)


@pytest.fixture(scope="module")
def six_point_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.report_documents import six_point_survey

    try:
        find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")
    out = tmp_path_factory.mktemp("six")
    return {
        lang: write_report(six_point_survey(expired=True), out / f"{lang}.pdf", fmt="pdf", lang=lang)
        for lang in ("en", "ru", "kk", "fa", "ro")
    }


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_every_page_carries_its_number_and_the_protocol_number(six_point_pdfs: dict[str, Path], lang: str) -> None:
    pages = page_texts(six_point_pdfs[lang])
    assert len(pages) >= 2
    for n, text in enumerate(pages, start=1):
        assert "РК-17/2026" in text, f"{lang} page {n}: no protocol number"
        assert has_page_label(text, lang, n, len(pages)), f"{lang} page {n}: no 'page {n} of {len(pages)}'"


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_no_internal_field_path_or_latin_unit_code_is_printed(six_point_pdfs: dict[str, Path], lang: str) -> None:
    text = "\n".join(page_texts(six_point_pdfs[lang]))
    assert FIELD_PATH.findall(text) == []


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_the_signature_block_is_on_one_page(six_point_pdfs: dict[str, Path], lang: str) -> None:
    heading, last_row = SIGNATURES[lang]
    pages = page_texts(six_point_pdfs[lang])
    holding = [n for n, text in enumerate(pages) if heading in text or last_row in text]
    assert len(holding) == 1, f"{lang}: signature block on pages {holding}"
    assert heading in pages[holding[0]] and last_row in pages[holding[0]]


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_an_expired_certificate_concludes_not_valid_on_the_first_page(
    six_point_pdfs: dict[str, Path], lang: str
) -> None:
    first = page_texts(six_point_pdfs[lang])[0]
    assert NOT_VALID[lang] in first
    assert "СП-08-5531/2025-ПОВ" in first  # the reason names the certificate


def test_acceptance_multi_page_russian_protocol_of_six_points_with_an_expired_certificate(
    six_point_pdfs: dict[str, Path],
) -> None:
    pages = page_texts(six_point_pdfs["ru"])
    first, text = pages[0], "\n".join(pages)
    flat = " ".join(text.split())
    # Validity before verdict, with the reason, before the first section.
    assert first.index("Заключение: недействителен") < first.index("1. Учреждение")
    assert "истёк 01.06.2026, до даты контроля" in " ".join(first.split())
    # Every point, its E with U (decimal comma), the failing one named, the straddle flagged.
    for point in ("R1", "R2", "S1", "S2", "A1", "B1"):
        assert f"Точка {point}" in flat
    assert "2,77 ± 0,48" in flat  # E = 2.77083, U = 0.48: E to U's decimal place (GUM 7.2.6)
    assert "интервал E ± U включает ДМД Е" in flat
    # The verdict under the decision rule first, then the uncertainty remark as a note on the straddling points.
    conclusion = " ".join(first.split())
    verdict = conclusion.index("Заключение: недействителен")
    rule = conclusion.index("Правило принятия решения: простое принятие")
    note = conclusion.index("Примечание о неопределённости: в этих точках интервал E ± U содержит ДМД Е")
    assert verdict < rule < note
    # Formulas with the decimal comma; units translated and never broken across lines.
    assert "E = 0,25 * (D80 + 0,5*D120)" in flat
    assert not any(re.search(r"мкГр/\s*$|мкЗв/\s*$", line) for line in text.splitlines())
    assert "мкГр/ч" in text and "мкЗв/ч" in text
    # Conditions actually used, times in the site's zone with the offset.
    assert "U = 100 кВ, I = 4 мА" in flat and "U = 100 кВ, I = 2 мА" in flat
    assert "09:10:00 – 10:40:00 UTC+05:00" in flat
    # Warnings for people; the audit annex; the decision rule.
    assert "вне диапазона" not in flat  # the instrument declares 0.05-10 000 µGy/h: B1's 0.05-0.08 are within
    assert "Приложение А. Журнал изменений" in flat and "показания отброшены" in flat
    assert "простое принятие (ILAC-G8:09/2019, п. 4.2.1)" in flat
    assert "Руководитель лаборатории" in flat


# -- a survey naming a limits-only profile says so on the first page (docs/profiles.md) --------------

LIMITS_WORDS = {  # the statement as pdftotext gives it (whitespace joined), or its fragments for Persian
    "en": "Dose limits: ir-1973-limits v1, which defines dose limits only, no survey method; the survey maths "
    "(formulas, permissible dose rates, verdicts) are those of the survey profile kz-2008-303 v2.",
    "ru": "Пределы доз: ir-1973-limits, версия 1; этот профиль задаёт только пределы доз, без методики контроля; "
    "расчёты контроля (формулы, ДМД Е, заключения о соответствии) выполнены по профилю методики kz-2008-303, версия 2.",
    "kk": "Доза шектері: ir-1973-limits, 1 нұсқасы; бұл профиль тек доза шектерін белгілейді, бақылау әдістемесі жоқ; "
    "бақылау есептеулері (формулалар, ДМД Е, сәйкестік туралы қорытындылар) kz-2008-303 әдістеме профилі бойынша, "
    "2 нұсқасы.",
    "ro": "Limite de doză: ir-1973-limits, versiunea 1, care stabilește numai limite de doză, fără metodă de măsurare; "
    "calculele măsurătorii (formule, debite de doză admise, verdicte) sunt cele ale profilului de măsurare "
    "kz-2008-303, versiunea 2.",
    # Right-to-left runs come out of pdftotext with their punctuation moved: check the words.
    "fa": (
        "حدود دز",
        "ir-1973-limits",
        "که فقط حدود دز را تعیین می\u200cکند و روش اندازه\u200cگیری ندارد؛",
        "مطابق پروفایل روش اندازه\u200cگیری",
        "kz-2008-303",
    ),
}


@pytest.fixture(scope="module")
def limits_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.report_documents import six_point_survey

    try:
        find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")
    out = tmp_path_factory.mktemp("limits")
    doc = {**six_point_survey(expired=False), "limits_profile": "ir-1973-limits"}
    return {lang: write_report(doc, out / f"{lang}.pdf", fmt="pdf", lang=lang) for lang in LIMITS_WORDS}


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_a_limits_profile_is_stated_on_the_first_page_in_the_reports_language(
    limits_pdfs: dict[str, Path], lang: str
) -> None:
    args = ["pdftotext", "-f", "1", "-l", "1", str(limits_pdfs[lang]), "-"]
    text = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout.translate(BIDI)
    first = " ".join(text.split())
    words = LIMITS_WORDS[lang]
    for part in (words,) if isinstance(words, str) else words:
        assert part in first, f"{lang}: {part!r} not on the first page"


# -- every table of every language fits the A4 text width (issue 22) ------------------------------------

ZWNJ = "\u200c"


def longest_catalogue_words(lang: str, count: int = 3) -> list[str]:
    """The ``count`` longest words the language's catalogue holds (English: the template's msgids)."""
    from babel.messages.pofile import read_po

    locale = resources.files("radsurvey.daemon.report").joinpath("locale")
    path = locale / "radsurvey.pot" if lang == "en" else locale / lang / "LC_MESSAGES" / "radsurvey.po"
    with path.open("rb") as fp:
        catalog = read_po(fp)
    words: set[str] = set()
    for message in catalog:
        text = message.id if lang == "en" else message.string
        if not message.id or not text:
            continue
        text = re.sub(r"%\(\w+\)s", " ", " ".join(text) if isinstance(text, tuple) else text)
        words.update(w.replace(ZWNJ, "") for w in re.findall(r"\w[\w\-\u200c]*\w", text))
    return sorted(words, key=lambda w: (-len(w), w))[:count]


def stress_document(lang: str) -> dict:
    """The six-point survey with the catalogue's longest words as room names and instrument model."""
    from tests.report_documents import six_point_survey

    doc = six_point_survey(expired=False)
    first, second, third = longest_catalogue_words(lang)
    for n, point in enumerate(doc["points"]):
        point["room"] = (first, second, third)[n % 3]
    doc["metadata"]["instruments"][0]["model"] = f"{second} {first}"
    doc["metadata"]["apparatus"]["model"] = third
    doc["metadata"]["instruments"][0]["serial"] = "VC-2026-0042"
    return doc


def ink_outside_text_width(pdf: Path, dpi: int = 60, slack_mm: float = 0.5) -> list[tuple[int, int]]:
    """(page, x) of any dark pixel left or right of the 182 mm text column (14 mm margins on A4)."""
    out = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(out)], check=True, timeout=120)
    found = []
    for n, image in enumerate(sorted(pdf.parent.glob(out.name + "-*.pgm")), start=1):
        data = image.read_bytes()
        _, width, height, _, _ = data.split(maxsplit=4)
        w, h = int(width), int(height)
        pixels = data[-w * h :]
        left = int((14 - slack_mm) / 25.4 * dpi)
        right = int((210 - 14 + slack_mm) / 25.4 * dpi)
        for y in range(h):
            row = pixels[y * w : (y + 1) * w]
            dark = [x for x in (*range(left), *range(right, w)) if row[x] < 160]
            if dark:
                found.append((n, dark[0]))
                break
    return found


@pytest.fixture(scope="module")
def stress_pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """Per language: the real PDF, and one printed without side margins so overflow is not clipped.

    Chromium clips what crosses the page margin; with the side margins set to 0 the 182 mm text column
    stays where it was (it is centred) and anything wider than it shows as ink in the margin.
    """
    from radsurvey.daemon.report import render_report
    from radsurvey.daemon.report.pdf import html_to_pdf

    try:
        find_chromium()
    except ReportError as err:
        pytest.fail(f"{err} (the PDF tests need the Debian package 'chromium')")
    out = tmp_path_factory.mktemp("stress")
    pdfs = {}
    for lang in ("en", "ru", "kk", "fa", "ro"):
        doc = stress_document(lang)
        real = write_report(doc, out / f"{lang}.pdf", fmt="pdf", lang=lang)
        html = render_report(doc, fmt="html", lang=lang)
        assert "margin: 16mm 14mm 18mm 14mm;" in html
        unclipped = html_to_pdf(
            html.replace("margin: 16mm 14mm 18mm 14mm;", "margin: 16mm 0 18mm 0;"), out / f"{lang}-wide.pdf"
        )
        pdfs[lang] = (real, unclipped)
    return pdfs


def whole_text(path: Path) -> str:
    """The PDF's text, words joined across a line break only after a hyphen (no other word is split)."""
    text = pdf_text(path).translate(BIDI).replace(ZWNJ, "")
    return " ".join(re.sub(r"-\n\s*", "-", text).split())


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_no_table_crosses_the_margin_with_the_catalogues_longest_words(
    stress_pdfs: dict[str, tuple[Path, Path]], lang: str
) -> None:
    real, unclipped = stress_pdfs[lang]
    assert ink_outside_text_width(unclipped) == []
    assert ink_outside_text_width(real) == []


@pytest.mark.parametrize("lang", ["en", "ru", "kk", "fa", "ro"])
def test_table_words_are_printed_whole(stress_pdfs: dict[str, tuple[Path, Path]], lang: str) -> None:
    from radsurvey.daemon.report.i18n import translations

    _ = translations(lang).gettext
    text = whole_text(stress_pdfs[lang][0])
    words = [*longest_catalogue_words(lang), "VC-2026-0042"]
    for label in ("pass", "fail", "Ratio E / limit", "Room category", "Verdict", "Serial number"):
        words += [w for w in re.findall(r"\w[\w\-]*\w", _(label).replace(ZWNJ, "")) if len(w) > 3]
    missing = [w for w in words if not re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text)]
    assert missing == []


def test_report_format_pdf_without_out_writes_the_file_the_survey_offers(
    doc: dict, chromium: str, tmp_path: Path
) -> None:
    import sys

    (tmp_path / "WE.json").write_text(json.dumps(doc), encoding="utf-8")
    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    out = subprocess.run(
        [radsurvey, "report", "WE.json", "--format", "pdf", "--lang", "ru"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr.strip().endswith("WE-ru.pdf")
    assert "(A4)" in pdf_pages(tmp_path / "WE-ru.pdf")[1]
