"""The console's channel rows: a value is shown only while it is fresh (daemon/web/live.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from radsurvey.config import parse_config
from radsurvey.daemon.web.live import LiveState
from radsurvey.drivers.runner import MeterState


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


T = datetime(2026, 3, 2, 8, 0, tzinfo=UTC).timestamp()


def live(clock: Clock) -> LiveState:
    cfg = parse_config(
        {
            "meters": [{"id": "m", "driver": "simulated", "poll_interval_s": 1.0}],
            "channels": [{"id": "desk", "meter": "m", "room_category": 1}],
        },
        environ={},
    )
    state = LiveState(cfg, clock=clock)
    state.last["desk"] = {
        "ts": "2026-03-02T08:00:00.000Z",
        "effective_uSv_h": 2.0,
        "ratio": 2.0 / 13,
        "limit_uSv_h": 13.0,
        "below_background": 0,
        "received": T,
    }
    return state


def test_a_fresh_sample_of_a_connected_meter_is_live() -> None:
    clock = Clock(T + 1)
    state = live(clock)
    state.meter_states["m"] = MeterState("m", "connected")
    row = state.row("desk")
    assert row["status"] == "live" and row["effective_uSv_h"] == 2.0 and row["limit_uSv_h"] == 13.0


def test_no_sample_for_three_poll_intervals_or_5_s_is_stale_and_shows_no_value() -> None:
    clock = Clock(T + 5.5)
    state = live(clock)
    state.meter_states["m"] = MeterState("m", "connected")
    row = state.row("desk")
    assert row["status"] == "stale" and row["effective_uSv_h"] is None and row["ratio"] is None
    assert row["last_effective_uSv_h"] == 2.0


def test_a_disconnected_meter_shows_disconnected_even_with_a_recent_sample() -> None:
    clock = Clock(T + 1)
    state = live(clock)
    state.meter_states["m"] = MeterState("m", "disconnected", reason="unplugged")
    row = state.row("desk")
    assert row["status"] == "disconnected" and row["effective_uSv_h"] is None
    assert row["meter_reason"] == "unplugged"


def test_a_meter_reporting_frozen_values_makes_its_channel_stale() -> None:
    clock = Clock(T + 1)
    state = live(clock)
    state.meter_states["m"] = MeterState("m", "stale", reason="value frozen")
    assert state.row("desk")["status"] == "stale"


def test_a_change_of_freshness_is_published_to_subscribers_once() -> None:
    clock = Clock(T + 1)
    state = live(clock)
    state.meter_states["m"] = MeterState("m", "connected")
    q = state.subscribe()
    state.refresh("desk")
    state.refresh("desk")
    clock.t = T + 10
    state.refresh("desk")
    events = [q.get_nowait() for _ in range(q.qsize())]
    assert [(e, d["status"]) for e, d in events] == [("channel", "live"), ("channel", "stale")]
