"""``api = "v1"``: the daemon writes to a real InfluxDB 1.x (Debian's influxd) through ``/write``.

Every sample and reading is read back through InfluxQL (``/query``) and matched
to the journal by seq; with authentication on, the password comes from the
environment and never reaches the log. A v2 config against the same server
gets one error naming the server's version and ``api = "v1"``, stops
retrying, and raises the ``sink_failing`` equipment alarm.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from radsurvey.config import parse_config
from tests.servers import InfluxDB1, InfluxPeer

from .helpers import config_dict, start_daemon, wait_for

pytestmark = pytest.mark.integration


def journal_seqs(path: Path, table: str, upto: int) -> list[int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute(f"SELECT seq FROM {table} WHERE seq <= ? ORDER BY seq", (upto,))]
    finally:
        conn.close()


def stored_seqs(server: InfluxDB1, measurement: str, db: str = "radsurvey") -> list[int]:
    return sorted(int(row[1]) for row in server.values(f'SELECT "seq" FROM "{measurement}"', db=db))  # type: ignore[call-overload]


def assert_stored_once(stored: list[int], acknowledged: list[int], journal_all: list[int]) -> None:
    """Every acknowledged row is stored exactly once; nothing stored that the journal does not hold.

    (Rows after the cursor may be stored too: a batch in flight when the daemon stopped.)
    """
    upto = acknowledged[-1]
    assert [s for s in stored if s <= upto] == acknowledged
    assert set(stored) <= set(journal_all) and len(stored) == len(set(stored))


async def test_every_sample_and_reading_arrives_in_influxdb_1x_through_the_v1_write_api(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    data = config_dict(
        tmp_path, influx_url=influxdb1.url, meters=2, influxdb={"api": "v1", "database": "radsurvey", "batch_size": 40}
    )
    cfg = parse_config(data, environ={})
    running = await start_daemon(cfg)
    await asyncio.sleep(2.0)
    sink = running.sink("influxdb")
    horizon = running.max_reading_seq()
    await wait_for(lambda: sink.cursor >= horizon, 15, "influxdb to catch up")
    await running.stop()
    upto = sink.cursor
    samples = journal_seqs(cfg.journal.path, "samples", upto)
    readings = journal_seqs(cfg.journal.path, "readings", upto)
    assert len(samples) >= 20, "the meters produced samples"
    assert_stored_once(stored_seqs(influxdb1, "sample"), samples, journal_seqs(cfg.journal.path, "samples", 10**12))
    assert_stored_once(stored_seqs(influxdb1, "reading"), readings, journal_seqs(cfg.journal.path, "readings", 10**12))
    row = influxdb1.query(
        'SELECT "effective_uSv_h", "channel", "meter", "site", "height" FROM "sample" ORDER BY time DESC LIMIT 1',
        db="radsurvey",
    )[0]["series"][0]  # type: ignore[index]
    columns = row["columns"]  # type: ignore[index]
    values = dict(zip(columns, row["values"][0], strict=True))  # type: ignore[index]
    assert values["site"] == "lab" and values["channel"] in ("ch1", "ch2") and values["height"] == "100"
    assert isinstance(values["effective_uSv_h"], float)


async def test_v1_timestamps_are_the_readings_own_in_nanoseconds(tmp_path: Path, influxdb1: InfluxDB1) -> None:
    from radsurvey.daemon.sinks.payloads import ts_ns

    data = config_dict(tmp_path, influx_url=influxdb1.url, influxdb={"api": "v1", "database": "radsurvey"})
    cfg = parse_config(data, environ={})
    running = await start_daemon(cfg)
    await asyncio.sleep(1.0)
    horizon = running.max_reading_seq()
    await wait_for(lambda: running.sink("influxdb").cursor >= horizon, 15, "influxdb to catch up")
    await running.stop()
    conn = sqlite3.connect(f"file:{cfg.journal.path}?mode=ro", uri=True)
    expected = {seq: ts_ns(ts, seq) for seq, ts in conn.execute("SELECT seq, ts FROM readings")}
    conn.close()
    stored = {int(seq): int(t) for t, seq in influxdb1.values('SELECT "seq" FROM "reading"', db="radsurvey")}  # type: ignore[call-overload]
    assert len(stored) >= 5 and all(expected[seq] == t for seq, t in stored.items())


async def test_v1_with_authentication_and_a_retention_policy_keeps_the_password_out_of_the_log(
    tmp_path: Path,
) -> None:
    server = InfluxDB1(tmp_path / "influxd-auth", auth=True)
    server.start()
    try:
        server.create_database("monitor")
        server.query('CREATE RETENTION POLICY "two_years" ON "monitor" DURATION 730d REPLICATION 1')
        server.query("CREATE USER writer WITH PASSWORD 'w-secret-9'")
        server.query('GRANT WRITE ON "monitor" TO writer')
        data = config_dict(
            tmp_path,
            influx_url=server.url,
            influxdb={
                "api": "v1",
                "database": "monitor",
                "retention_policy": "two_years",
                "username": "writer",
                "password_env": "TEST_INFLUX_PW",
            },
        )
        import os

        os.environ["TEST_INFLUX_PW"] = "w-secret-9"
        try:
            cfg = parse_config(data, environ={})
            with capture_logs() as logs:
                running = await start_daemon(cfg)
                await asyncio.sleep(1.0)
                horizon = running.max_reading_seq()
                await wait_for(lambda: running.sink("influxdb").cursor >= horizon, 15, "influxdb to catch up")
                await running.stop()
        finally:
            del os.environ["TEST_INFLUX_PW"]
        upto = running.sink("influxdb").cursor
        readings = journal_seqs(cfg.journal.path, "readings", upto)
        stored = sorted(
            int(r[1])  # type: ignore[call-overload]
            for r in server.values('SELECT "seq" FROM "monitor"."two_years"."reading"', db="monitor")
        )
        assert_stored_once(stored, readings, journal_seqs(cfg.journal.path, "readings", 10**12))
        assert server.values('SELECT "seq" FROM "monitor"."autogen"."reading"', db="monitor") == []
        assert "w-secret-9" not in repr(logs)
    finally:
        server.stop()


async def test_a_wrong_v1_password_is_retried_with_an_error_that_names_the_setting(tmp_path: Path) -> None:
    server = InfluxDB1(tmp_path / "influxd-auth", auth=True)
    server.start()
    try:
        server.create_database("monitor")
        pw = tmp_path / "influx.pw"
        pw.write_text("not-the-password\n")
        data = config_dict(
            tmp_path,
            influx_url=server.url,
            influxdb={"api": "v1", "database": "monitor", "username": "admin", "password_file": str(pw)},
        )
        cfg = parse_config(data, environ={})
        with capture_logs() as logs:
            running = await start_daemon(cfg)
            sink = running.sink("influxdb")
            await wait_for(lambda: sink.errors >= 2, 15, "two failed attempts")
            await running.stop()
        assert "HTTP 401" in sink.last_error and "password" in sink.last_error
        assert sink.status()["failing"] is None, "a refused password is retried (it may be fixed on the server)"
        assert "not-the-password" not in repr(logs)
    finally:
        server.stop()


async def test_a_missing_database_is_named_with_how_to_create_it(tmp_path: Path, influxdb1: InfluxDB1) -> None:
    data = config_dict(tmp_path, influx_url=influxdb1.url, influxdb={"api": "v1", "database": "nosuch"})
    running = await start_daemon(parse_config(data, environ={}))
    sink = running.sink("influxdb")
    await wait_for(lambda: sink.errors >= 1, 15, "a failed write")
    influxdb1.create_database("nosuch")  # the error says what to do; once done, the backlog drains
    horizon = running.max_reading_seq()
    await wait_for(lambda: sink.cursor >= horizon, 20, "influxdb to catch up after CREATE DATABASE")
    await running.stop()
    assert 'database not found: "nosuch"' in sink.last_error and "CREATE DATABASE" in sink.last_error


async def test_v2_against_influxdb_1x_names_the_version_stops_and_raises_sink_failing(
    tmp_path: Path, influxdb1: InfluxDB1
) -> None:
    data = config_dict(tmp_path, influx_url=influxdb1.url, influxdb={"bucket": "radsurvey"})
    data["alarms"] = {"tick_interval_s": 0.1}
    cfg = parse_config(data, environ={})
    from radsurvey.daemon.alarms.service import AlarmService

    journal_cfg = cfg
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon

    journal = Journal(journal_cfg.journal.path, commit_interval_s=cfg.journal.commit_interval_s)
    daemon = Daemon(cfg, journal, services=[*build_services(cfg), AlarmService(cfg)])
    with capture_logs() as logs:
        task = asyncio.create_task(daemon.run())
        sink = next(s for s in daemon.services if s.name == "influxdb")
        await wait_for(lambda: sink.status()["failing"] is not None, 15, "the sink to give up")  # type: ignore[attr-defined]
        errors_then = sink.errors  # type: ignore[attr-defined]
        alarm = tmp_path / "journal.sqlite"

        def raised() -> bool:
            conn = sqlite3.connect(f"file:{alarm}?mode=ro", uri=True)
            try:
                return (
                    conn.execute(
                        "SELECT COUNT(*) FROM alarm_events WHERE rule = 'sink_failing' AND state = 'fault'"
                    ).fetchone()[0]
                    >= 1
                )
            except sqlite3.OperationalError:
                return False
            finally:
                conn.close()

        journal.flush()
        await wait_for(lambda: (journal.flush() or True) and raised(), 15, "the sink_failing alarm")
        await asyncio.sleep(1.5)  # well past retry_max_s = 2 s's first steps: no more attempts
        assert sink.errors == errors_then, "a wrong API is not retried"  # type: ignore[attr-defined]
        daemon.stop_event.set()
        await asyncio.wait_for(task, 15)
    await asyncio.to_thread(journal.close)
    message = sink.status()["failing"]  # type: ignore[attr-defined]
    assert f"InfluxDB {influxdb1.version()}" in message
    assert 'api = "v1"' in message and "database" in message
    stopped = [e for e in logs if e["event"].startswith("influxdb sink stopped")]
    assert len(stopped) == 1, "one clear error, not one per retry"


async def test_v2_404_from_a_server_that_names_no_influxdb_version_says_to_check_the_url(
    tmp_path: Path, influx_peer: InfluxPeer
) -> None:
    influx_peer.answer = lambda request: (404, "404 page not found")
    data = config_dict(tmp_path, influx_url=influx_peer.url)
    running = await start_daemon(parse_config(data, environ={}))
    sink = running.sink("influxdb")
    await wait_for(lambda: sink.status()["failing"] is not None, 15, "the sink to give up")
    await asyncio.sleep(1.0)
    await running.stop()
    assert "names no InfluxDB version" in sink.status()["failing"] and "[influxdb] url" in sink.status()["failing"]
    writes = [r for r in influx_peer.requests if r.path.startswith("/api/v2/write")]
    assert len(writes) == 1, "not retried"
