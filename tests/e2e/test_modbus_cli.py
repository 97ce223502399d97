"""Modbus end to end: TCP through ``meters read``, RTU on a pty through ``run`` with unplug/replug."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import tomli_w

from radsurvey.drivers.modbus.emulator import ModbusEmulator

from .conftest import radsurvey_bin
from .test_meters_cli import journal_rows, start_run

pytestmark = pytest.mark.e2e


def test_meters_read_over_modbus_tcp(run_cli) -> None:
    with ModbusEmulator(data_type="f32", value=0.5, step=0.25, status_word=0) as emu:
        proc = run_cli(
            "meters",
            "read",
            "--driver",
            "modbus",
            "--host",
            f"127.0.0.1:{emu.tcp_port}",
            "-o",
            "address=100",
            "-o",
            "data_type=f32",
            "-o",
            "unit=uSv/h",
            "--count",
            "3",
            "--interval",
            "0.1",
            "--json",
        )
        served = list(emu.served)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["value"] for r in rows] == served[1:]  # served[0] answered identify
    assert all(r["dose_rate_uSv_h"] == r["value"] and r["quantity"] == "ambient_dose_equivalent_rate" for r in rows)


def test_run_over_modbus_rtu_survives_unplug_and_replug(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    link = tmp_path / "usb-FTDI_RS485-if00-port0"
    with ModbusEmulator(pty=True, link=link, data_type="u32", value=1000, step=1, unit_id=7) as emu:
        meter = {
            "id": "area1",
            "driver": "modbus",
            "poll_interval_s": 0.2,
            "port": str(link),
            "unit_id": 7,
            "address": 100,
            "data_type": "u32",
            "unit": "nSv/h",
            "timeout_s": 0.4,
            "connection": {"backoff_initial_s": 0.2, "backoff_max_s": 0.5, "max_timeouts": 2},
        }
        config = tmp_path / "c.toml"
        config.write_text(tomli_w.dumps({"meters": [meter]}))
        proc = start_run(config, journal, 7.0)
        time.sleep(2.5)
        emu.unplug()
        time.sleep(1.5)
        emu.replug()
        _out, err = proc.communicate(timeout=60)
        served = set(emu.served)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    rows = journal_rows(journal, "SELECT value, meter_value, unit FROM readings ORDER BY seq")
    numbers = [r["meter_value"] for r in rows]
    assert numbers == sorted(set(numbers)), "a reading was repeated"
    assert set(numbers) <= served, "a reading was invented"
    assert all(r["unit"] == "uSv/h" and abs(r["value"] - r["meter_value"] / 1000) < 1e-9 for r in rows)
    states = [r["state"] for r in journal_rows(journal, "SELECT state FROM meter_events ORDER BY seq")]
    assert "disconnected" in states and states[-1] == "connected", states


def test_emulate_modbus_tcp_prints_an_address(run_cli) -> None:
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "modbus", "-o", "value=2.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = emu.stdout.readline()
        address = first.split()[-1]
        assert address.startswith("tcp://127.0.0.1:")
        read = run_cli(
            "meters",
            "read",
            "--driver",
            "modbus",
            "--host",
            address.removeprefix("tcp://"),
            "-o",
            "address=100",
            "-o",
            "data_type=f32",
            "--json",
        )
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout)["value"] == 2.5
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert emu.returncode == 0


def test_modbus_exceptions_and_silence_become_meter_events(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    with ModbusEmulator(data_type="f32", value=0.5) as emu:
        meter = {
            "id": "gw",
            "driver": "modbus",
            "poll_interval_s": 0.2,
            "host": "127.0.0.1",
            "tcp_port": emu.tcp_port,
            "address": 100,
            "data_type": "f32",
            "timeout_s": 0.4,
            "connection": {"backoff_initial_s": 0.2, "backoff_max_s": 0.5, "max_timeouts": 2, "max_garbage": 3},
        }
        config = tmp_path / "c.toml"
        config.write_text(tomli_w.dumps({"meters": [meter]}))
        proc = start_run(config, journal, 7.0)
        time.sleep(1.5)
        emu.fault = "garbage"
        time.sleep(1.5)
        emu.fault = "silence"
        time.sleep(2.0)
        emu.fault = None
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    events = [dict(r) for r in journal_rows(journal, "SELECT state, reason FROM meter_events ORDER BY seq")]
    reasons = " | ".join(e["reason"] for e in events)
    assert "E04: server device failure" in reasons, events
    assert " within " in reasons, events
    assert events[-1]["state"] == "connected", events


def test_an_unknown_unit_fails_config_check_instead_of_every_read(tmp_path: Path, run_cli) -> None:
    meter = {"id": "gw", "driver": "modbus", "host": "127.0.0.1", "address": 100, "unit": "furlongs"}
    config = tmp_path / "c.toml"
    config.write_text(tomli_w.dumps({"meters": [meter]}))
    proc = run_cli("config", "check", str(config))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "meters[gw].unit: unknown unit 'furlongs'; accepted units: cpm, cps, nGy/h" in proc.stderr


def test_a_refused_connection_is_our_one_line_only(run_cli) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = run_cli("meters", "read", "--driver", "modbus", "--host", f"127.0.0.1:{port}", "-o", "address=1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"radsurvey: error: modbus: cannot connect to Modbus TCP 127.0.0.1:{port}"]
