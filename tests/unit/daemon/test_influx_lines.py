"""Influx line protocol for alarms and survey points: series a dashboard can use."""

from __future__ import annotations

from radsurvey.daemon.sinks.payloads import INFLUX_ROUTES, InfluxContext

CTX = InfluxContext(site="clinic", channel_heights_cm={})


def alarm_row(state: str) -> dict:
    return {
        "seq": 42, "ts": "2026-03-01T10:00:00.000Z", "channel": "desk", "rule": "twa", "kind": "twa",
        "event": "transition", "state": state, "previous": "normal", "value": 7.5, "level": 13.0,
        "warning_level": 6.5, "unit": "uSv/h", "since": "2026-03-01T10:00:00.000Z", "acknowledged": 0,
        "acknowledged_by": None, "acknowledged_at": None, "comment": "", "latched": 1,
    }


def test_alarm_state_is_a_number_and_rule_a_tag() -> None:
    text = INFLUX_ROUTES["alarm_events"](alarm_row("warning"), CTX)
    head, fields, _ts = text.split(" ")
    assert head == "alarm,channel=desk,kind=twa,rule=twa,site=clinic"
    assert "state_code=1" in fields and "value=7.5" in fields and "latched=1" in fields


def test_every_alarm_state_has_its_own_code() -> None:
    codes = {
        state: INFLUX_ROUTES["alarm_events"](alarm_row(state), CTX).split(" ")[1].split("state_code=")[1].split(",")[0]
        for state in ("normal", "warning", "alarm", "fault")
    }
    assert len(set(codes.values())) == 4


def test_survey_points_of_different_surveys_are_different_series() -> None:
    def point(survey: str) -> dict:
        return {
            "seq": 7, "ts": "2026-03-01T10:00:00.000Z", "survey": survey, "point": "R1", "room_category": 1,
            "formula": "2", "effective_uSv_h": 2.875, "limit_uSv_h": 13.0, "ratio": 0.22, "verdict": "pass",
            "payload": "{}",
        }

    a = INFLUX_ROUTES["survey_points"](point("S-1"), CTX).split(" ")[0]
    b = INFLUX_ROUTES["survey_points"](point("S-2"), CTX).split(" ")[0]
    assert a != b and "survey=S-1" in a
