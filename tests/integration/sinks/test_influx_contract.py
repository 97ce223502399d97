"""The InfluxDB schema of docs/architecture.md#influxdb as stored, read back from VictoriaMetrics' export API."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from tests.servers import VictoriaMetrics

from .helpers import SITE, make_config, start_daemon, wait_for

pytestmark = pytest.mark.integration


async def run_into(tmp_path: Path, victoria: VictoriaMetrics, seconds: float = 1.5) -> Path:
    cfg = make_config(tmp_path, influx_url=victoria.url)
    running = await start_daemon(cfg)
    await asyncio.sleep(seconds)
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("influxdb").cursor >= horizon, 10, "influxdb to catch up")
    await running.stop()
    conn = sqlite3.connect(cfg.journal.path)
    # keep what was delivered (a sample is stored with its reading's time and value: it goes with it)
    cursor = running.sink("influxdb").cursor
    conn.execute("DELETE FROM sample_rows WHERE seq > ? OR seq - r > ?", (cursor, cursor))
    conn.execute("DELETE FROM reading_rows WHERE seq > ?", (cursor,))
    conn.commit()
    conn.close()
    return cfg.journal.path


def by_name(victoria: VictoriaMetrics, measurement: str) -> dict[str, dict[str, object]]:
    return {s["metric"]["__name__"]: s for s in victoria.export(f'{{__name__=~"{measurement}_.+"}}')}  # type: ignore[index]


async def test_readings_are_stored_with_site_and_meter_tags_and_unit_named_fields(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    path = await run_into(tmp_path, victoria)
    series = by_name(victoria, "reading")
    assert set(series) == {"reading_value_uGy_h", "reading_seq"}
    for s in series.values():
        assert s["metric"] == {"__name__": s["metric"]["__name__"], "site": SITE, "meter": "m1"}  # type: ignore[index]
    conn = sqlite3.connect(path)
    rows = conn.execute("SELECT seq, ts, value FROM readings ORDER BY seq").fetchall()
    from .helpers import influx_reading_seqs

    influx_reading_seqs(victoria, [r[0] for r in rows], path)  # wait until VictoriaMetrics shows them
    series = by_name(victoria, "reading")
    ts_of = {
        seq: t for seq, t in zip(series["reading_seq"]["values"], series["reading_seq"]["timestamps"], strict=True)
    }  # type: ignore[arg-type]
    from radsurvey.daemon.sinks.payloads import ts_ms

    from .helpers import victoria_view

    missing = sorted(set(r[0] for r in rows) - set(victoria_view(list(ts_of), path)))
    assert not missing, (
        f"every reading stored once; missing {missing} of {[r[0] for r in rows]}, stored {sorted(ts_of)}"
    )
    for seq, ts, _v in rows:
        if seq in ts_of:
            assert ts_of[seq] == ts_ms(ts), "timestamp is the reading's own (ms)"


async def test_samples_are_stored_with_channel_tags_and_every_numeric_field(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    await run_into(tmp_path, victoria)
    series = by_name(victoria, "sample")
    assert {
        "sample_value_uGy_h",
        "sample_mean_uGy_h",
        "sample_background_uGy_h",
        "sample_net_uGy_h",
        "sample_effective_uSv_h",
        "sample_limit_uSv_h",
        "sample_ratio",
        "sample_below_background",
        "sample_window_n",
        "sample_seq",
        "sample_reading_seq",
    } <= set(series)
    tags = dict(series["sample_net_uGy_h"]["metric"])  # type: ignore[arg-type]
    tags.pop("__name__")
    assert tags == {"site": SITE, "channel": "ch1", "meter": "m1", "room_category": "1", "height": "100"}
    assert all(v > 0 for v in series["sample_limit_uSv_h"]["values"])  # type: ignore[union-attr]


def test_line_protocol_escapes_tags_and_measurement_and_skips_missing_fields() -> None:
    from radsurvey.daemon.sinks.payloads import line

    assert line(
        "sample", {"site": "a b", "channel": "x,y", "point": None}, {"net_uGy_h": 1.5, "n": 3, "none": None}, 1000
    ) == (r"sample,channel=x\,y,site=a\ b net_uGy_h=1.5,n=3i 1000")


def test_two_readings_in_one_millisecond_are_two_points() -> None:
    from radsurvey.daemon.sinks.payloads import InfluxContext, reading_line

    ctx = InfluxContext(site="s", channel_heights_cm={})
    row = {"ts": "2026-01-01T00:00:00.634Z", "meter": "m", "unit": "uGy/h", "value": 1.0}
    a = reading_line({**row, "seq": 13}, ctx)
    b = reading_line({**row, "seq": 15}, ctx)
    assert a.rsplit(" ", 1)[1] != b.rsplit(" ", 1)[1]
    assert a.rsplit(" ", 1)[1] == str(1767225600634 * 1_000_000 + 13)
    assert a == reading_line({**row, "seq": 13}, ctx), "a replayed row is the same point"


async def test_a_replayed_batch_is_the_same_points(tmp_path: Path, victoria: VictoriaMetrics) -> None:
    """Replaying from cursor 0 writes identical series and timestamps (idempotent in InfluxDB)."""
    path = await run_into(tmp_path, victoria, seconds=0.8)
    from .helpers import influx_reading_seqs, journal_reading_seqs

    delivered = journal_reading_seqs(path)
    assert delivered, "the first run delivered readings"
    influx_reading_seqs(victoria, delivered, path)  # new series become searchable a moment after the write
    before = {s["metric"]["__name__"]: sorted(s["timestamps"]) for s in victoria.export('{__name__="reading_seq"}')}  # type: ignore[index]
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sink_cursors SET seq = 0 WHERE sink = 'influxdb'")
    conn.commit()
    conn.close()
    cfg = make_config(tmp_path, influx_url=victoria.url, enabled=False)
    running = await start_daemon(cfg)
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("influxdb").cursor >= horizon, 10, "replay")
    await running.stop()
    after = {s["metric"]["__name__"]: sorted(set(s["timestamps"])) for s in victoria.export('{__name__="reading_seq"}')}  # type: ignore[index]
    assert {k: sorted(set(v)) for k, v in before.items()} == after


def alarm_event(
    unit: str, rule: str, value: float | None, level: float, warning_level: float | None
) -> dict[str, object]:
    """An ``alarm_events`` row as the alarm service journals it."""
    return {
        "ts": "2026-03-01T10:00:00.000Z",
        "channel": "ch1",
        "rule": rule,
        "kind": rule,
        "event": "enter",
        "state": "alarm",
        "previous": "warning",
        "value": value,
        "level": level,
        "warning_level": warning_level,
        "unit": unit,
        "since": "2026-03-01T10:00:00.000Z",
        "acknowledged": 0,
        "latched": 1,
    }


async def test_alarm_events_are_stored_with_rule_tags_and_fields_named_by_their_unit(
    tmp_path: Path, victoria: VictoriaMetrics
) -> None:
    cfg = make_config(tmp_path, influx_url=victoria.url, enabled=False)
    running = await start_daemon(cfg)
    running.journal.append("alarm_events", alarm_event("uSv/h", "instant", 3.1, 2.5, 1.25))
    running.journal.append("alarm_events", alarm_event("mSv", "dose_budget", 1.2, 1.0, 0.5))
    running.journal.append("alarm_events", alarm_event("s", "stale", None, 60.0, None))
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("influxdb").cursor >= horizon, 10, "influxdb to catch up")
    await running.stop()

    def stored() -> dict[str, dict[str, object]]:
        return by_name(victoria, "alarm")

    # new series become searchable a moment after the write
    await wait_for(lambda: len(stored()) >= 9, 10, "the alarm series in VictoriaMetrics")
    series = stored()
    assert {
        "alarm_value_uSv_h",
        "alarm_level_uSv_h",
        "alarm_warning_level_uSv_h",
        "alarm_value_mSv",
        "alarm_level_mSv",
        "alarm_warning_level_mSv",
        "alarm_level_s",
        "alarm_state_code",
        "alarm_latched",
    } <= set(series)
    assert not {"alarm_value", "alarm_level", "alarm_warning_level"} & set(series), "no field without its unit"
    assert series["alarm_value_uSv_h"]["values"] == [3.1]
    tags = dict(series["alarm_level_uSv_h"]["metric"])  # type: ignore[arg-type]
    assert tags == {
        "__name__": "alarm_level_uSv_h",
        "site": SITE,
        "channel": "ch1",
        "rule": "instant",
        "kind": "instant",
    }
