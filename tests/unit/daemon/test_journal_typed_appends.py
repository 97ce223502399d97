"""The journal takes typed readings, samples and events; what its views give back is what was appended."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from radsurvey.config.schema import ChannelConfig
from radsurvey.daemon.alarms.engine import Event, State
from radsurvey.daemon.journal import Journal, times
from radsurvey.daemon.pipeline import ChannelPipeline
from radsurvey.drivers.base import Conversion, MeterIdentity, Quantity, Reading, Status
from radsurvey.drivers.runner import MeterState

T0 = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


def a_reading(value: float = 0.42) -> Reading:
    return Reading(
        meter="m1",
        ts=T0,
        value=value,
        unit="uGy/h",
        quantity=Quantity.AIR_KERMA_RATE,
        status=frozenset({Status.LOW_BATTERY}),
        raw=b"\x01\x02",
        conversions=(Conversion("cpm->uGy/h", factor=0.0065),),
        meter_value=64.0,
    )


def rows(path: Path, sql: str) -> list[dict[str, object]]:
    from radsurvey.daemon.journal import reader

    with reader(path) as conn:
        return [dict(r) for r in conn.execute(sql)]


def test_a_typed_reading_comes_back_from_the_view_as_appended(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    reading = a_reading()
    with Journal(path, commit_interval_s=0.01) as j:
        seq = j.append_reading(reading)
        assert j.flush()
    (row,) = rows(path, "SELECT * FROM readings")
    assert row["seq"] == seq and row["ts"] == "2026-03-01T08:30:15.123Z" == times.text(reading.ts)
    assert (row["meter"], row["value"], row["unit"], row["meter_value"]) == ("m1", 0.42, "uGy/h", 64.0)
    assert json.loads(str(row["status"])) == ["low_battery"]
    assert json.loads(str(row["conversions"])) == [c.as_dict() for c in reading.conversions]
    assert row["raw"] == b"\x01\x02"


def test_a_typed_sample_comes_back_as_the_live_path_publishes_it(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    pipeline = ChannelPipeline(ChannelConfig(id="c1", meter="m1", room_category=2, background_uGy_h=0.1))
    with Journal(path, commit_interval_s=0.01) as j:
        reading = a_reading(0.73)
        sample = pipeline.process(reading, j.append_reading(reading))
        assert sample is not None
        sample = sample.with_seq(j.append_sample(sample))
        assert j.flush()
    (row,) = rows(path, f"SELECT * FROM samples WHERE seq = {sample.seq}")
    live = sample.row()
    assert {k: row[k] for k in live} == live, "the replayed sample differs from the live one"


def test_meter_and_alarm_events_are_stored_with_their_identity_and_times(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    identity = MeterIdentity(model="GMC-320+", firmware="Re 4.22", serial="05004D323533AB")
    state = MeterState("m1", "connected", ts=T0, identity=identity, detail={"attempt": 2})
    event = Event(
        event="transition",
        channel="c1",
        rule="twa",
        kind="twa",
        t=T0.timestamp(),
        state=State.ALARM,
        previous=State.NORMAL,
        value=3.1,
        level=2.5,
        warning_level=1.25,
        unit="uSv/h",
        since=T0.timestamp(),
        acknowledged=False,
        latched=True,
    )
    with Journal(path, commit_interval_s=30) as j:
        j.append_meter_event(state)
        j.append_alarm_event(event)
        assert j.flush(timeout_s=5)
    (meter,) = rows(path, "SELECT * FROM meter_events")
    assert meter["ts"] == times.text(T0) and meter["state"] == "connected"
    detail = json.loads(str(meter["detail"]))
    assert detail["attempt"] == 2 and detail["identity"]["serial"] == "05004D323533AB"
    (alarm,) = rows(path, "SELECT * FROM alarm_events")
    assert (alarm["rule"], alarm["state"], alarm["previous"], alarm["latched"]) == ("twa", "alarm", "normal", 1)
    assert alarm["ts"] == alarm["since"] == times.text(T0)
