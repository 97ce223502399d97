"""Warnings re-written for the person reading the protocol: subject, sentence, numbers, paragraph."""

from __future__ import annotations

import pytest

from radsurvey.daemon.report.humanise import Humaniser
from radsurvey.daemon.report.i18n import formatter, translations


def humaniser(lang: str) -> Humaniser:
    fmt = formatter(lang)
    return Humaniser(translations(lang).gettext, fmt.number, fmt.date, fmt.digits)


@pytest.mark.parametrize(
    ("lang", "warning", "expected"),
    [
        (
            "en",
            "points[S1].readings_uGy_h.120: 1 of 3 readings outside 0.1-1000 uGy/h, the dose-rate range the"
            " instrument declares (App. 14 p.32-33; main text p.15)",
            "Point S1, 120 cm: 1 of 3 readings outside 0.1–1000 µGy/h, the dose-rate range the instrument declares"
            " (App. 14 p.32–33; main text p.15)",
        ),
        (
            "ru",
            "points[A1].readings_uGy_h.80: mean 0.05 uGy/h is below the background 0.1 uGy/h; net dose rate set to 0",
            "Точка A1, 80 см: среднее 0,05 мкГр/ч ниже фона 0,1 мкГр/ч; мощность дозы за вычетом фона принята равной 0",
        ),
        (
            "ru",
            "points[R1].kind: 'workplace' points are measured at 30/80/120/160 cm (App. 14 p.21), got 80 cm",
            "Точка R1, вид точки: в точках этого вида измеряют на высотах 30/80/120/160 см (Прил. 14 п. 21),"
            " получено 80 см",
        ),
        (
            "ro",
            "background_uGy_h: ignored, the meter compensates background",
            "Fond de radiație: ignorat: instrumentul compensează",
        ),
        (
            "en",
            "point S2: anode_current_mA corrected from 4 to 2 when the survey was resumed",
            "Point S2: anode current corrected from 4 to 2 when the survey was resumed",
        ),
        (
            "ru",
            "connected meter GMC-320 serial 42 is not among the recorded instruments (7); check its verification"
            " certificate",
            "подключённый прибор GMC-320, заводской № 42, не входит в указанные средства измерений (7)",
        ),
    ],
)
def test_known_warnings_become_sentences_in_the_language(lang: str, warning: str, expected: str) -> None:
    text = str(humaniser(lang).sentence(warning))
    assert expected in text or text.startswith(expected), text
    assert "points[" not in text and "uGy/h" not in text.replace("µGy/h", "")


@pytest.mark.parametrize(
    ("finding", "expected"),
    [
        (
            {
                "text": "points[F1].anode_current_mA: 1.5 mA is below the 2 mA App. 14 p.15 requires in fluoroscopy",
                "code": "fluoroscopy_current",
                "paragraph": "p.15",
                "field": "points[F1].anode_current_mA",
            },
            "Точка F1, анодный ток: 1,5 мА — меньше 2 мА, которых требует Прил. 14, п. 15 при рентгеноскопии",
        ),
        (
            {
                "text": "points[F1].anode_voltage_kV: 90 kV differs from the standard 100 kV App. 14 p.15 asks for"
                " (App. 14 Table 1 row 3); if that is the apparatus's maximum, record it as apparatus_max_voltage_kV"
                " (Table 1 note)",
                "code": "anode_voltage",
                "paragraph": "p.15",
                "field": "points[F1].anode_voltage_kV",
            },
            "Точка F1, анодное напряжение: 90 кВ отличается от стандартного 100 кВ, которого требует Прил. 14, п. 15"
            " (Прил. 14, табл. 1, строка 3); если это максимальное напряжение аппарата",
        ),
        (
            {
                "text": "points[D1]: K = 8 from the room's shielding design (project 12/2020): E from the measured dose"
                " rates is divided by K and judged against category 7 (App. 14 p.25; the division is radsurvey's"
                " reading, the paragraph gives no formula)",
                "code": "design_attenuation_factor",
                "paragraph": "p.25",
                "field": "points[D1]",
            },
            "Точка D1: K = 8 по проекту защиты помещения (project 12/2020)",
        ),
    ],
)
def test_structured_findings_of_the_evaluation_are_translated_without_field_paths(
    finding: dict[str, str], expected: str
) -> None:
    text = str(humaniser("ru").sentence(finding))
    assert text.startswith(expected), text
    assert "apparatus_max_voltage_kV" not in text and "points[" not in text
    assert text.count("п. 15") <= 1  # the paragraph is not repeated after a sentence that cites it


def test_an_unknown_sentence_keeps_its_words_but_loses_its_field_path() -> None:
    text = str(humaniser("ru").sentence("points[Z9].readings_uGy_h.30: something new"))
    assert text == "Точка Z9, 30 см: something new"


def test_validity_reasons_are_translated_with_the_languages_dates_and_numbers() -> None:
    h = humaniser("ru")
    text = h.validity("certificate_expired", {"instrument": "DKS 1", "certificate": "C-1", "expired": "2026-06-01"})
    assert text == "DKS 1: срок действия свидетельства о поверке C-1 истёк 01.06.2026, до даты контроля"
    text = h.validity("dose_rate_range_narrow", {"instrument": "DKS 1", "range": "0.5-100", "required": "0.1-1000"})
    assert "0,5–100 мкГр/ч не охватывает требуемый 0,1–1000 мкГр/ч" in text
