"""Retention deletes only rows every sink acknowledged and that are old; size only warns."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from radsurvey.config import parse_config
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.journal.feed import JournalFeed
from radsurvey.daemon.sinks.base import CursorSink
from radsurvey.daemon.sinks.hub import RetentionService, SinkHub

OLD = "2020-01-01T00:00:00.000Z"
NEW = "2999-01-01T00:00:00.000Z"


def reading(ts: str) -> dict[str, object]:
    return {"ts": ts, "meter": "m", "value": 1.0, "unit": "uGy/h", "quantity": "air_kerma_rate"}


def setup(tmp_path: Path, retention: dict[str, object]) -> tuple[Journal, SinkHub, list[CursorSink]]:
    cfg = parse_config({"site": {"id": "s"}, "retention": retention}, environ={})
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    hub = SinkHub(cfg)
    sinks = [hub.add(CursorSink(name=n, tables=("readings",), batch_size=10)) for n in ("a", "b")]  # type: ignore[misc]
    return journal, hub, sinks  # type: ignore[return-value]


def remaining(journal: Journal) -> list[int]:
    journal.flush()
    feed = JournalFeed(journal.path, ["readings"])
    try:
        return [r.seq for r in feed.read_page(0, 1000).rows]
    finally:
        feed.close()


async def test_old_rows_go_only_once_every_sink_acknowledged_them(tmp_path: Path) -> None:
    journal, hub, (a, b) = setup(tmp_path, {"max_age_days": 30})
    seqs = [journal.append("readings", reading(OLD)) for _ in range(6)] + [journal.append("readings", reading(NEW))]
    a.cursor, b.cursor = seqs[5], seqs[2]  # b is behind
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    assert remaining(journal) == seqs[3:], "b has not acknowledged 4..6: they stay"
    b.cursor = seqs[6]
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    assert remaining(journal) == seqs[6:], "new rows stay even when acknowledged"
    journal.close()


async def test_without_an_age_nothing_is_deleted(tmp_path: Path) -> None:
    journal, hub, (a, b) = setup(tmp_path, {"raw_days": None})
    seqs = [journal.append("readings", reading(OLD)) for _ in range(3)]
    a.cursor = b.cursor = seqs[-1]
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    assert remaining(journal) == seqs
    journal.close()


async def test_size_limit_raises_the_warning_state_and_keeps_every_row(tmp_path: Path) -> None:
    journal, hub, _ = setup(tmp_path, {"max_size_mb": 0.01, "warn_fraction": 0.5})
    seqs = [journal.append("readings", reading(NEW)) for _ in range(200)]
    journal.flush()
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    assert hub.status()["journal"]["state"] == "warning"
    assert remaining(journal) == seqs
    journal.close()


def alarm_event(ts: str) -> dict[str, object]:
    return {
        "ts": ts,
        "channel": "c",
        "rule": "instant",
        "kind": "instant",
        "event": "enter",
        "state": "alarm",
        "previous": "normal",
        "value": 3.0,
        "level": 2.5,
        "unit": "uSv/h",
        "since": ts,
    }


def survey_point(ts: str) -> dict[str, object]:
    return {
        "ts": ts,
        "survey": "S-1",
        "point": "R1",
        "room_category": 1,
        "formula": "2",
        "effective_uSv_h": 2.9,
        "limit_uSv_h": 13.0,
        "ratio": 0.22,
        "verdict": "pass",
        "payload": "{}",
    }


def count(journal: Journal, table: str) -> int:
    journal.flush()
    feed = JournalFeed(journal.path, [table])
    try:
        return len(feed.read_page(0, 1000).rows)
    finally:
        feed.close()


async def test_alarm_events_and_survey_points_survive_retention_by_default(tmp_path: Path) -> None:
    journal, hub, sinks = setup(tmp_path, {"max_age_days": 30})
    journal.append("alarm_events", alarm_event(OLD))
    journal.append("survey_points", survey_point(OLD))
    top = journal.append("readings", reading(OLD))
    for s in sinks:
        s.cursor = top
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    assert count(journal, "readings") == 0, "old acknowledged readings go"
    assert count(journal, "alarm_events") == 1 and count(journal, "survey_points") == 1
    journal.close()


@pytest.mark.parametrize(("switch", "table"), [("keep_alarms", "alarm_events"), ("keep_surveys", "survey_points")])
async def test_alarm_events_or_survey_points_go_when_the_user_says_so(tmp_path: Path, switch: str, table: str) -> None:
    journal, hub, sinks = setup(tmp_path, {"max_age_days": 30, switch: False})
    journal.append("alarm_events", alarm_event(OLD))
    journal.append("survey_points", survey_point(OLD))
    top = journal.append(table, alarm_event(NEW) if table == "alarm_events" else survey_point(NEW))
    for s in sinks:
        s.cursor = top
    await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
    other = "survey_points" if table == "alarm_events" else "alarm_events"
    assert count(journal, table) == 1, "only the new one is left"
    assert count(journal, other) == 1, "the other switch still keeps its table"
    journal.close()
