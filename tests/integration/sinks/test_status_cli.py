"""``radsurvey status --config F`` shows backlog, lag and errors of every configured sink."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from tests.servers import Mosquitto

from .helpers import config_dict, make_config, start_daemon, wait_for

pytestmark = pytest.mark.integration

DEAD_TSDB = "http://127.0.0.1:9"  # nothing listens there


def radsurvey(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "radsurvey")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60)


async def test_status_shows_backlog_lag_and_errors_per_sink(tmp_path: Path, mosquitto: Mosquitto) -> None:
    data = config_dict(tmp_path, mqtt_port=mosquitto.port, influx_url=DEAD_TSDB)
    cfg_path = tmp_path / "monitor.toml"
    cfg_path.write_text(tomli_w.dumps(data))
    running = await start_daemon(make_config(tmp_path, mqtt_port=mosquitto.port, influx_url=DEAD_TSDB))
    await wait_for(lambda: running.sink("influxdb").errors >= 2, 15, "failed writes to the absent TSDB")
    await running.stop()
    # A second run without the meter lets MQTT deliver what the first produced in its last moments.
    running = await start_daemon(make_config(tmp_path, mqtt_port=mosquitto.port, influx_url=DEAD_TSDB, enabled=False))
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("mqtt").cursor >= horizon, 10, "mqtt to catch up")
    await running.stop()

    proc = await asyncio.to_thread(radsurvey, "status", "--config", str(cfg_path), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    sinks = json.loads(proc.stdout)["sinks"]
    assert set(sinks) == {"mqtt", "influxdb"}
    mqtt, tsdb = sinks["mqtt"], sinks["influxdb"]
    assert mqtt["seq"] >= horizon and mqtt["backlog_rows"] == 0 and mqtt["lag_s"] == 0.0
    assert mqtt["errors"] == 0 and mqtt["last_error"] == ""
    # nothing was delivered to the dead TSDB: its cursor is below the first reading (it may have moved over
    # the meter events committed before it, which InfluxDB does not get)
    conn = sqlite3.connect(f"file:{cfg_path.parent / 'journal.sqlite'}?mode=ro", uri=True)
    first_reading = conn.execute("SELECT MIN(seq) FROM readings").fetchone()[0]
    conn.close()
    assert tsdb["seq"] < first_reading and tsdb["backlog_rows"] >= 20 and tsdb["lag_s"] > 0
    assert tsdb["errors"] >= 2 and tsdb["last_error"].startswith(f"cannot write to {DEAD_TSDB}")
    assert tsdb["oldest_pending_ts"] is not None and tsdb["last_error_at"] is not None

    text = await asyncio.to_thread(radsurvey, "status", "--config", str(cfg_path))
    assert text.returncode == 0, text.stderr[-2000:]
    out = " ".join(text.stdout.split())  # rich wraps long lines
    assert f"sink mqtt: acknowledged seq {mqtt['seq']} (0 rows behind, lag 0 s)" in out
    assert f"sink influxdb: acknowledged seq {tsdb['seq']} ({tsdb['backlog_rows']} rows behind, lag " in out
    assert f"errors {tsdb['errors']}, last at {tsdb['last_error_at']}: cannot write to {DEAD_TSDB}" in out
