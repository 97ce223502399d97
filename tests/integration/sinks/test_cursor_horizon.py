"""A sink's cursor follows the whole journal, not only the rows it publishes (real mosquitto and VictoriaMetrics).

The InfluxDB sink does not write meter events and MQTT can be told not to
publish readings or samples; when such rows are the newest, the cursor must
still reach them, or the backlog never returns to 0 (false ``sink_backlog``
alarms) and retention never deletes anything.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.servers import Mosquitto, VictoriaMetrics

from .helpers import ROOT, MqttRecorder, config_dict, start_daemon, wait_for

pytestmark = pytest.mark.integration


def absent_meter(tmp_path: Path, **kw: object) -> dict[str, object]:
    """A config whose only meter cannot be opened: it writes meter events and nothing else."""
    data = config_dict(tmp_path, **kw)  # type: ignore[arg-type]
    data["meters"] = [
        {
            "id": "m1",
            "driver": "gmc",
            "port": str(tmp_path / "no-such-port"),
            "connection": {"backoff_initial_s": 0.2, "backoff_max_s": 0.5},
        }
    ]
    return data


def meter_event_count(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM meter_events").fetchone()[0])
    finally:
        conn.close()


async def test_influxdb_backlog_returns_to_zero_when_only_meter_events_were_written(
    tmp_path: Path, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    from radsurvey.config import parse_config

    cfg = parse_config(absent_meter(tmp_path, mqtt_port=mosquitto.port, influx_url=victoria.url), environ={})
    async with MqttRecorder(mosquitto.port, f"{ROOT}/status/sinks") as live:
        running = await start_daemon(cfg)
        influx = running.sink("influxdb")
        # The sink's own committed seq: the journal's is set before the sink's commit listener runs.
        await wait_for(lambda: influx.committed_seq >= 2, 10, "the meter's connecting/disconnected events")
        await wait_for(lambda: influx.status()["backlog"] == 0, 10, "the influxdb backlog to return to 0")
        assert influx.cursor == running.journal.committed_seq and influx.delivered == 0

        def published_backlog_zero() -> bool:
            last = live.messages[-1].json() if live.messages else None
            return last is not None and all(s["backlog"] == 0 for s in last["sinks"].values())

        await wait_for(published_backlog_zero, 10, f"{ROOT}/status/sinks to show no backlog")
        await running.stop()
    conn = sqlite3.connect(cfg.journal.path)
    cursors = dict(conn.execute("SELECT sink, seq FROM sink_cursors"))
    conn.close()
    assert cursors["influxdb"] == cursors["mqtt"] > 0, "the stored cursor moved as well"


async def test_mqtt_backlog_returns_to_zero_with_readings_and_samples_not_published(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    from radsurvey.config import parse_config

    data = config_dict(tmp_path, mqtt_port=mosquitto.port, mqtt={"publish_readings": False, "publish_samples": False})
    running = await start_daemon(parse_config(data, environ={}))
    mqtt = running.sink("mqtt")
    await wait_for(lambda: running.journal.committed_seq > 40, 10, "readings and samples")
    await wait_for(lambda: mqtt.status()["backlog"] == 0, 10, "the mqtt backlog to return to 0")
    assert mqtt.cursor > 40 and mqtt.delivered <= 3, "only meter states were published"
    await running.stop()


async def test_retention_deletes_rows_no_sink_publishes(
    tmp_path: Path, mosquitto: Mosquitto, victoria: VictoriaMetrics
) -> None:
    from radsurvey.config import parse_config

    data = absent_meter(tmp_path, mqtt_port=mosquitto.port, influx_url=victoria.url)
    data["retention"] = {"max_age_days": 1e-6, "interval_s": 0.2}  # anything older than 0.09 s may go
    cfg = parse_config(data, environ={})
    running = await start_daemon(cfg)
    hub = running.sink("retention").hub  # type: ignore[attr-defined]
    await wait_for(lambda: hub.deleted_rows >= 2, 15, "retention to delete the acknowledged meter events")
    await running.stop()
    assert hub.status()["journal"]["deleted_rows"] >= 2
    assert meter_event_count(cfg.journal.path) == 0, "the meter wrote its two events only"
