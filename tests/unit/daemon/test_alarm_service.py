"""The alarm service inside a real daemon: journal rows, acknowledgements, restart."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from radsurvey.daemon import journal as jr
from tests.alarm_support import T0, Clock, events, feed, make_config, running


async def test_twa_transitions_are_journaled_with_value_level_rule_and_seq(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "twa", "window_s": 100, "hysteresis_fraction": 0}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, _):
        feed(daemon, clock, T0, T0 + 100, 0.0)
        feed(daemon, clock, T0 + 100, T0 + 200, 26.0)
        await daemon.journal.aflush()
    rows = events(cfg)
    assert [(r["state"], r["ts"]) for r in rows] == [
        ("warning", "2026-03-02T08:02:05.000Z"),  # 25 s of 26 uSv/h in 100 s = 6.5 = DMD_E/2
        ("alarm", "2026-03-02T08:02:30.000Z"),
    ]
    assert rows[1]["rule"] == "twa" and rows[1]["level"] == 13 and rows[1]["unit"] == "uSv/h"
    assert rows[1]["value"] == 13.0 and rows[1]["previous"] == "warning"
    # alarm events share the journal-wide seq with samples
    with jr.reader(cfg.journal.path) as conn:
        sample_seqs = {r[0] for r in conn.execute("SELECT seq FROM samples")}
    assert not sample_seqs & {r["seq"] for r in rows}


async def test_cli_acknowledgement_request_releases_a_latched_alarm_and_records_who(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "instant", "level_uSv_h": 50, "latching": True, "warning_fraction": 0}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        feed(daemon, clock, T0 + 20, T0 + 60, 0.0)
        assert service.current()[0]["state"] == "alarm"
        await daemon.journal.aflush()
        from radsurvey.daemon.alarms import store

        request_id = store.request_ack(cfg.journal.path, channel="desk", rule=None, by="dr. Asel", comment="checked")
        result = await asyncio.to_thread(store.wait_for_ack, cfg.journal.path, request_id, 5.0)
        assert result is not None and result.startswith("accepted")
        assert service.current()[0]["state"] == "normal"
    ack = events(cfg)[-1]
    assert ack["event"] == "ack" and ack["previous"] == "alarm" and ack["state"] == "normal"
    assert ack["acknowledged_by"] == "dr. Asel" and ack["comment"] == "checked"


async def test_an_acknowledgement_while_high_sticks_and_memory_agrees_with_the_journal(tmp_path: Path) -> None:
    from radsurvey.daemon.alarms import store

    cfg = make_config(tmp_path, [{"kind": "instant", "level_uSv_h": 50, "latching": True, "warning_fraction": 0}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        ok, _ = service.acknowledge("desk", "instant", "bob", source="test")
        assert ok
        feed(daemon, clock, T0 + 20, T0 + 40, 100.0)  # still high: the same episode
        feed(daemon, clock, T0 + 40, T0 + 60, 0.0)  # back to 0: it clears
        in_memory = service.current()[0]
        await daemon.journal.aflush()
        journaled = store.current(cfg.journal.path)[0]
    assert (in_memory["state"], in_memory["latched"], in_memory["acknowledged"]) == ("normal", False, False)
    assert (journaled["state"], journaled["latched"]) == ("normal", False)
    assert [(e["event"], e["state"], e["latched"]) for e in events(cfg)] == [
        ("transition", "alarm", 1),
        ("ack", "alarm", 0),
        ("transition", "normal", 0),
    ]
    async with running(cfg, clock) as (_, service):
        restored = service.current()[0]
    assert {k: restored[k] for k in ("state", "latched", "acknowledged", "since")} == {
        k: in_memory[k] for k in ("state", "latched", "acknowledged", "since")
    }


async def test_acknowledging_a_channel_with_nothing_to_acknowledge_is_rejected(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "instant", "level_uSv_h": 50}])
    async with running(cfg, Clock(T0)) as (_, service):
        ok, message = service.acknowledge("desk", None, "x", source="test")
        assert not ok and "nothing to acknowledge" in message
        ok, message = service.acknowledge("desk", "nope", "x", source="test")
        assert not ok and "no rule 'nope'" in message
        ok, message = service.acknowledge("desk", None, "  ", source="test")
        assert not ok and "nobody" in message


async def test_restart_mid_alarm_restores_the_latched_state_without_a_new_event(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "instant", "level_uSv_h": 50, "latching": True}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, _):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await daemon.journal.aflush()
    before = events(cfg)
    assert before[-1]["state"] == "alarm"
    clock.t = T0 + 600
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0 + 600, T0 + 700, 0.0)  # value back to 0: latched, stays
        cur = service.current()[0]
        assert cur["state"] == "alarm" and cur["latched"]
        assert cur["since"] == before[-1]["since"]
        await daemon.journal.aflush()
    assert events(cfg) == before


async def test_twa_window_survives_a_restart(tmp_path: Path) -> None:
    rules = [{"kind": "twa", "window_s": 1000, "min_coverage": 0.1}]
    cfg = make_config(tmp_path, rules)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 300, 4.0)
        feed(daemon, clock, T0 + 300, T0 + 400, 0.0)
        uninterrupted = service.by_key[("desk", "twa")].measure(T0 + 400)
        await daemon.journal.aflush()
    async with running(cfg, clock) as (_, service):
        restored = service.by_key[("desk", "twa")].measure(T0 + 400)
    assert uninterrupted is not None and abs(uninterrupted - 4.0 * 299 / 399) < 1e-9
    assert restored == uninterrupted


async def test_dose_budget_survives_a_restart_from_its_snapshot_and_later_samples(tmp_path: Path) -> None:
    rules = [{"kind": "dose_budget", "min_elapsed_s": 0}]
    cfg = make_config(tmp_path, rules, snapshot_interval_s=3600)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 100, 1.0)
        service.save_snapshots()  # snapshot at T0+100 ...
        feed(daemon, clock, T0 + 100, T0 + 200, 3.0)  # ... then samples only in the journal
        budget = service.by_key[("desk", "dose_budget")].budget
        assert budget is not None and budget.s is not None
        dose, covered = budget.s.dose_uSv, budget.s.covered_s
        await daemon.journal.aflush()
        # simulate a crash: the final snapshot at stop must not be what restores the state
        service.save_snapshots = lambda: None  # type: ignore[method-assign]
    with sqlite3.connect(cfg.journal.path) as conn:
        snap = json.loads(conn.execute("SELECT state FROM alarm_rule_state").fetchone()[0])
    assert snap["last_t"] == T0 + 100
    async with running(cfg, clock) as (_, service):
        restored = service.by_key[("desk", "dose_budget")].budget
        assert restored is not None and restored.s is not None
        assert restored.s.covered_s == covered == 199
        assert abs(restored.s.dose_uSv - dose) < 1e-9
        assert abs(dose - (99 * 1.0 + 100 * 3.0) / 3600) < 1e-12


async def test_a_dose_budget_snapshot_of_another_start_date_is_discarded_at_restart(tmp_path: Path) -> None:
    rules = [{"kind": "dose_budget", "min_elapsed_s": 0, "start": "2026-03-02"}]
    cfg = make_config(tmp_path, rules, snapshot_interval_s=3600)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 100, 1.0)
        assert service.by_key[("desk", "dose_budget")].measure(T0 + 100) is not None
        await daemon.journal.aflush()
    # The period now starts the next day: nothing measured so far belongs to it.
    moved = make_config(tmp_path, [{**rules[0], "start": "2026-03-03"}], snapshot_interval_s=3600)
    async with running(moved, clock) as (_, service):
        rule = service.by_key[("desk", "dose_budget")]
        assert rule.measure(T0 + 100) is None
        assert rule.budget is not None and (rule.budget.s is None or rule.budget.s.dose_uSv == 0)


async def test_equipment_rule_faults_when_the_meter_stays_disconnected(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "disconnected", "after_s": 30}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        service.tick(T0 + 29)
        assert service.current()[0]["state"] == "normal"
        service.tick(T0 + 30)
        assert service.current()[0]["state"] == "fault"
        await daemon.journal.aflush()
    assert events(cfg)[-1]["kind"] == "equipment"


async def test_stale_meter_values_raise_a_fault_after_their_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from radsurvey.drivers.runner import MeterState

    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "stale", "after_s": 10}])
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        daemon.on_meter_state(MeterState("m", "connected", ts=datetime.fromtimestamp(T0, UTC)))
        feed(daemon, clock, T0, T0 + 5, 1.0)  # the same value every second
        service.tick(T0 + 9)
        assert service.current()[0]["state"] == "normal"  # unchanged since T0+1: 8 s
        service.tick(T0 + 11)
        assert service.current()[0]["state"] == "fault"
        feed(daemon, clock, T0 + 11, T0 + 12, 2.0)  # it moves again
        service.tick(T0 + 12)
        assert service.current()[0]["state"] == "normal"


async def test_an_over_range_reading_faults_its_channel_until_a_reading_in_range(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from radsurvey.drivers.base import Quantity, Reading, Status
    from radsurvey.drivers.runner import MeterState

    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "over_range"}])
    clock = Clock(T0)

    def reading(t: float, status: frozenset[Status] = frozenset()) -> Reading:
        ts = datetime.fromtimestamp(t, UTC)
        return Reading(meter="m", ts=ts, value=2.0, unit="uGy/h", quantity=Quantity.AIR_KERMA_RATE, status=status)

    async with running(cfg, clock) as (daemon, service):
        daemon.on_meter_state(MeterState("m", "connected", ts=datetime.fromtimestamp(T0, UTC)))
        daemon.on_reading(reading(T0 + 1))
        service.tick(T0 + 1)
        assert service.current()[0]["state"] == "normal"
        daemon.on_reading(reading(T0 + 2, frozenset({Status.OVER_RANGE})))
        service.tick(T0 + 2)
        assert service.current()[0]["state"] == "fault"
        daemon.on_reading(reading(T0 + 3))
        service.tick(T0 + 3)
        assert service.current()[0]["state"] == "normal"
        await daemon.journal.aflush()
    assert [(e["rule"], e["state"], e["unit"]) for e in events(cfg)] == [
        ("over_range", "fault", "flag"),
        ("over_range", "normal", "flag"),
    ]


async def test_a_stale_meter_is_judged_stale_not_disconnected(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from radsurvey.drivers.runner import MeterState

    rules = [
        {"kind": "equipment", "check": "disconnected", "after_s": 5, "id": "link"},
        {"kind": "equipment", "check": "stale", "after_s": 5, "id": "frozen"},
    ]
    cfg = make_config(tmp_path, rules)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        daemon.on_meter_state(MeterState("m", "connected", ts=datetime.fromtimestamp(T0, UTC)))
        daemon.on_meter_state(MeterState("m", "stale", ts=datetime.fromtimestamp(T0 + 1, UTC), reason="frozen"))
        daemon.on_meter_state(MeterState("m", "error", ts=datetime.fromtimestamp(T0 + 2, UTC), reason="timeout"))
        service.tick(T0 + 20)
        states = {a["rule"]: a["state"] for a in service.current()}
        assert states == {"link": "normal", "frozen": "fault"}


async def test_sink_backlog_and_journal_size_are_judged_from_the_journal(tmp_path: Path) -> None:
    rules = [
        {"kind": "equipment", "check": "sink_backlog", "max_rows": 50},
        {"kind": "equipment", "check": "journal_size", "max_bytes": 10_000_000, "warning_fraction": 1e-6},
    ]
    cfg = make_config(tmp_path, rules)
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        daemon.journal.execute_now("INSERT INTO sink_cursors(sink, seq, updated_at) VALUES ('mqtt', 0, 'x')")
        feed(daemon, clock, T0, T0 + 30, 0.0)  # 30 readings + 30 samples
        await daemon.journal.aflush()
        service.tick(T0 + 30)
        states = {r["rule"]: r["state"] for r in service.current()}
        assert states == {"sink_backlog": "fault", "journal_size": "warning"}


async def test_the_retention_size_limit_raises_the_journal_size_alarm_by_itself(tmp_path: Path) -> None:
    from radsurvey.daemon.alarms.service import services_for

    # No rule configured: [retention] max_size_mb alone puts a journal_size check on the channel.
    cfg = make_config(tmp_path, [], retention={"max_size_mb": 10, "warn_fraction": 0.001})
    assert [type(s).__name__ for s in services_for(cfg)] == ["AlarmService"]
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 5, 0.0)
        await daemon.journal.aflush()
        service.tick(T0 + 5)
        (rule,) = service.current()
        assert (rule["rule"], rule["state"], rule["level"]) == ("journal_size", "warning", 10_000_000)
    # The same journal against a limit it already exceeds: fault, and nothing is deleted for it.
    smaller = make_config(tmp_path, [], retention={"max_size_mb": 0.01})
    async with running(smaller, clock) as (daemon, service):
        service.tick(T0 + 10)
        assert service.current()[0]["state"] == "fault"
        await daemon.journal.aflush()
    assert [(e["rule"], e["state"]) for e in events(cfg)] == [("journal_size", "warning"), ("journal_size", "fault")]
    with jr.reader(cfg.journal.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0] == 5


async def test_a_journal_size_rule_without_max_bytes_takes_the_retention_limit(tmp_path: Path) -> None:
    rules = [{"kind": "equipment", "check": "journal_size", "id": "disk", "warning_fraction": 0.5}]
    cfg = make_config(tmp_path, rules, retention={"max_size_mb": 2000})
    async with running(cfg, Clock(T0)) as (_, service):
        # beside the daemon's own journal_write rule
        assert list(service.by_key) == [("desk", "disk"), ("desk", "journal_write"), ("desk", "journal_damaged")]
        rule = service.by_key["desk", "disk"]
        assert (rule.name, rule.machine.level, rule.machine.warning_level) == ("disk", 2e9, 1e9)


async def test_clock_rule_faults_while_the_clock_is_not_synchronised(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, [{"kind": "equipment", "check": "clock", "after_s": 60}])
    clock = Clock(T0)
    async with running(cfg, clock) as (_, service):
        synced = [False]
        service.clock_synchronised = lambda: synced[0]
        service.tick(T0 + 100)
        service.tick(T0 + 159)
        assert service.current()[0]["state"] == "normal"
        service.tick(T0 + 160)
        assert service.current()[0]["state"] == "fault"
        synced[0] = True
        service.tick(T0 + 161)
        assert service.current()[0]["state"] == "normal"


def test_the_mqtt_ack_listener_is_started_only_when_enabled(tmp_path: Path) -> None:
    from radsurvey.daemon.alarms.mqtt_ack import MqttAckService
    from radsurvey.daemon.alarms.service import AlarmService, services_for

    rules = [{"kind": "instant", "level_uSv_h": 50}]
    mqtt = {"host": "broker.local", "port": 8883, "prefix": "site-a", "username": "radsurvey"}
    off = services_for(make_config(tmp_path, rules, mqtt=mqtt))
    assert [type(s) for s in off] == [AlarmService]
    on = services_for(make_config(tmp_path, rules, mqtt=mqtt, mqtt_ack={"enabled": True, "accept_unsigned": True}))
    assert [type(s) for s in on] == [AlarmService, MqttAckService]
    ack = on[1]
    assert ack.alarms is on[0]
    # what [alarms.mqtt_ack] leaves unset comes from [mqtt]
    assert (ack.host, ack.port, ack.username, ack.topic) == (
        "broker.local",
        8883,
        "radsurvey",
        "site-a/t/channels/+/alarm/ack",
    )
    unsigned = {"enabled": True, "accept_unsigned": True}
    own_cfg = make_config(tmp_path, rules, mqtt=mqtt, mqtt_ack={**unsigned, "username": "ack", "port": 1884})
    own = services_for(own_cfg)[1]
    assert (own.host, own.port, own.username) == ("broker.local", 1884, "ack")
    assert services_for(make_config(tmp_path, [], mqtt_ack={**unsigned, "username": "ack"})) == []
