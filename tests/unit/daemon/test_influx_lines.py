"""Influx line protocol for alarms and survey points: series a dashboard can use."""

from __future__ import annotations

from radsurvey.daemon.sinks.payloads import INFLUX_ROUTES, InfluxContext

CTX = InfluxContext(site="clinic", channel_heights_cm={})


def alarm_row(state: str) -> dict:
    return {
        "seq": 42,
        "ts": "2026-03-01T10:00:00.000Z",
        "channel": "desk",
        "rule": "twa",
        "kind": "twa",
        "event": "transition",
        "state": state,
        "previous": "normal",
        "value": 7.5,
        "level": 13.0,
        "warning_level": 6.5,
        "unit": "uSv/h",
        "since": "2026-03-01T10:00:00.000Z",
        "acknowledged": 0,
        "acknowledged_by": None,
        "acknowledged_at": None,
        "comment": "",
        "latched": 1,
    }


def test_alarm_state_is_a_number_and_rule_a_tag() -> None:
    text = INFLUX_ROUTES["alarm_events"](alarm_row("warning"), CTX)
    head, fields, _ts = text.split(" ")
    assert head == "alarm,channel=desk,kind=twa,rule=twa,site=clinic"
    assert "state_code=1" in fields and "latched=1" in fields


def test_alarm_value_and_levels_are_named_by_the_rule_unit() -> None:
    fields = INFLUX_ROUTES["alarm_events"](alarm_row("warning"), CTX).split(" ")[1].split(",")
    assert {"value_uSv_h=7.5", "level_uSv_h=13.0", "warning_level_uSv_h=6.5"} <= set(fields)
    assert not any(f.startswith(("value=", "level=", "warning_level=")) for f in fields)


def test_alarm_fields_of_a_dose_budget_and_an_equipment_rule_carry_their_own_units() -> None:
    budget = {**alarm_row("alarm"), "kind": "dose_budget", "unit": "mSv", "value": 1.2, "level": 1.0}
    fields = INFLUX_ROUTES["alarm_events"](budget, CTX).split(" ")[1]
    assert "value_mSv=1.2" in fields and "level_mSv=1.0" in fields
    stale = {**alarm_row("fault"), "kind": "stale", "unit": "s", "value": None, "level": 60.0, "warning_level": None}
    fields = INFLUX_ROUTES["alarm_events"](stale, CTX).split(" ")[1]
    assert "level_s=60.0" in fields and "value_" not in fields and "warning_level" not in fields


def test_every_alarm_state_has_its_own_code() -> None:
    codes = {
        state: INFLUX_ROUTES["alarm_events"](alarm_row(state), CTX).split(" ")[1].split("state_code=")[1].split(",")[0]
        for state in ("normal", "warning", "alarm", "fault")
    }
    assert len(set(codes.values())) == 4


def test_survey_points_of_different_surveys_are_different_series() -> None:
    def point(survey: str) -> dict:
        return {
            "seq": 7,
            "ts": "2026-03-01T10:00:00.000Z",
            "survey": survey,
            "point": "R1",
            "room_category": 1,
            "formula": "2",
            "effective_uSv_h": 2.875,
            "limit_uSv_h": 13.0,
            "ratio": 0.22,
            "verdict": "pass",
            "payload": "{}",
        }

    a = INFLUX_ROUTES["survey_points"](point("S-1"), CTX).split(" ")[0]
    b = INFLUX_ROUTES["survey_points"](point("S-2"), CTX).split(" ")[0]
    assert a != b and "survey=S-1" in a


def test_a_survey_point_carries_its_room_as_a_tag_and_its_verdict_as_failed() -> None:
    def point(verdict: str, ratio: float) -> dict:
        return {
            "seq": 9,
            "ts": "2026-03-01T10:00:00.000Z",
            "survey": "S-1",
            "point": "A1",
            "room_category": 2,
            "formula": "4",
            "effective_uSv_h": 2.5 * ratio,
            "limit_uSv_h": 2.5,
            "ratio": ratio,
            "verdict": verdict,
            "payload": '{"room": "doctor\'s office, above", "id": "A1"}',
        }

    failing = INFLUX_ROUTES["survey_points"](point("fail", 1.1), CTX)
    assert r"room=doctor's\ office\,\ above" in failing
    assert "failed=1i" in failing
    assert "failed=0i" in INFLUX_ROUTES["survey_points"](point("pass", 1.0), CTX)
