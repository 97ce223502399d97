"""Survey documents for the report tests: a six-point survey as radsurvey exports it."""

from __future__ import annotations

import copy
from typing import Any

SIX_POINTS: dict[str, Any] = {
    "schema": "radsurvey.survey/1",
    "id": "20261201-03",
    "protocol": "kz-2008-303",
    "apparatus": "radiography",
    "background_compensated": False,
    "background_uGy_h": [0.09, 0.11, 0.10],
    "options": {"formula3": "literal"},
    "points": [
        {
            "id": "R1",
            "room": "процедурная 204",
            "category": 1,
            "kind": "workplace",
            "anode_current_mA": 4,
            "anode_voltage_kV": 100,
            "location": "место рентгенолаборанта у стола, 1 м от оси пучка",
            "plan_x_m": 1.0,
            "plan_y_m": 2.0,
            "readings_uGy_h": {
                "30": [20.1, 19.9, 20.0],
                "80": [60.0, 61.0, 59.0],
                "120": [30.0, 30.3, 29.7],
                "160": [10.0, 10.1, 9.9],
            },
        },
        {
            "id": "R2",
            "room": "комната управления 204а",
            "category": 1,
            "kind": "workplace",
            "anode_current_mA": 4,
            "anode_voltage_kV": 100,
            "plan_x_m": 4.5,
            "plan_y_m": 0.5,
            "readings_uGy_h": {
                "30": [1.1, 1.0, 0.9],
                "80": [2.0, 2.1, 1.9],
                "120": [1.5, 1.4, 1.6],
                "160": [0.8, 0.7, 0.9],
            },
        },
        {
            "id": "S1",
            "room": "регистратура 205",
            "category": 2,
            "kind": "wall",
            "anode_current_mA": 4,
            "anode_voltage_kV": 100,
            "plan_x_m": 6.0,
            "plan_y_m": 2.5,
            "readings_uGy_h": {"80": [9.1, 8.9, 9.0], "120": [6.1, 5.9, 6.0]},
        },
        {
            "id": "S2",
            "room": "коридор",
            "category": 3,
            "kind": "wall",
            "anode_current_mA": 2,
            "anode_voltage_kV": 100,
            "plan_x_m": 3.0,
            "plan_y_m": 4.0,
            "readings_uGy_h": {"80": [30.0, 31.0, 29.0], "120": [20.0, 20.5, 19.5]},
        },
        {
            "id": "A1",
            "room": "кабинет врача 304 (этажом выше)",
            "category": 2,
            "kind": "above",
            "anode_current_mA": 4,
            "anode_voltage_kV": 100,
            "plan_x_m": 2.0,
            "plan_y_m": 3.0,
            "readings_uGy_h": {"80": [40.1, 39.9, 40.0]},
        },
        {
            "id": "B1",
            "room": "склад 104 (этажом ниже)",
            "category": 4,
            "kind": "below",
            "anode_current_mA": 4,
            "anode_voltage_kV": 100,
            "readings_uGy_h": {"120": [0.08, 0.05, 0.06]},
        },
    ],
    "metadata": {
        "protocol_number": "РК-17/2026",
        "survey_date": "2026-12-01",
        "timezone": "Asia/Almaty",
        "measured_from": "2026-12-01T04:10:00Z",
        "measured_to": "2026-12-01T05:40:00Z",
        "reason": "scheduled_or_as_needed",
        "facility": {
            "name": "Городская поликлиника № 7",
            "address": "ул. Примерная, 12, Алматы",
            "department": "Рентгеновское отделение",
            "room": "Рентгеновский кабинет 204",
        },
        "apparatus": {
            "type": "general_diagnostic",
            "manufacturer": "Пример",
            "model": "Рентгенодиагностический комплекс РДК-500 с полным набором штативов",
            "serial": "R500-06-1187",
            "sanitary_conclusion": "№ 0417 от 03.03.2026",
        },
        "performed_by": [{"name": "А. Примеров", "position": "инженер по радиационному контролю"}],
        "representative": {"name": "В. Образцова", "position": "заведующая рентгеновским отделением"},
        "instruments": [
            {
                "model": "Дозиметр-радиометр МКС-АТ1117М с блоком детектирования БДКГ-01",
                "serial": "DR2-0312",
                "energy_min_keV": 15,
                "energy_max_keV": 3000,
                "dose_rate_min_uGy_h": 0.05,
                "dose_rate_max_uGy_h": 10000,
                "error_percent": 15,
                "certificate_number": "СП-08-5531/2025-ПОВ",
                "certificate_expires": "2026-06-01",
            }
        ],
        "conditions": {
            "anode_voltage_kV": 100,
            "anode_current_mA": 4,
            "filter": "2,5 мм Al",
            "phantom": "вода, 250 x 250 x 150 мм",
            "field_size": "180 x 180 мм",
            "table_position": "горизонтальное",
        },
        "plan_outline_m": [[0, 0], [7, 0], [7, 5], [0, 5]],
        "audit": [
            {
                "at": "2026-12-01T04:31:10Z",
                "action": "discarded",
                "point": "A1",
                "height_cm": 80,
                "readings_uGy_h": [10.0, 50.0, 10.0],
                "read_at": ["2026-12-01T04:30:00Z", "2026-12-01T04:30:20Z", "2026-12-01T04:30:40Z"],
            },
            {
                "at": "2026-12-01T05:02:00Z",
                "action": "edited",
                "point": "S2",
                "field": "anode_current_mA",
                "old": 4,
                "new": 2,
            },
        ],
    },
}


def six_point_survey(*, expired: bool = True) -> dict[str, Any]:
    """The six-point survey; ``expired``: the instrument's certificate ran out before the survey."""
    doc = copy.deepcopy(SIX_POINTS)
    if not expired:
        doc["metadata"]["instruments"][0]["certificate_expires"] = "2027-06-01"
    return doc
