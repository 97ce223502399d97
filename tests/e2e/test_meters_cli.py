"""Every serial driver end to end against its pty emulator, through the installed command."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from radsurvey.drivers.emulator import PtyEmulator

from .conftest import radsurvey_bin
from .meter_cases import CASES

pytestmark = pytest.mark.e2e


def option_args(options: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for key, value in options.items():
        out += ["-o", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    return out


def write_config(tmp_path: Path, driver: str, port: str, options: dict[str, Any], **connection: Any) -> Path:
    meter = {
        "id": "m1",
        "driver": driver,
        "poll_interval_s": 0.2,
        **CASES[driver].where(port)[1],
        "timeout_s": 0.5,
        **options,
        "connection": {"backoff_initial_s": 0.2, "backoff_max_s": 0.5, **connection},
    }
    path = tmp_path / "meters.toml"
    path.write_text(tomli_w.dumps({"site": {"id": "test"}, "meters": [meter]}))
    return path


def journal_rows(path: Path, sql: str) -> list[sqlite3.Row]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_meters_read_prints_json_lines(name: str, tmp_path: Path, run_cli) -> None:
    case = CASES[name]
    device = case.device()
    with PtyEmulator(device, link=tmp_path / "by-id-link") as emu:
        proc = run_cli(
            "meters",
            "read",
            "--driver",
            name,
            *case.where(emu.port)[0],
            "--count",
            "4",
            "--interval",
            "0.2",
            "--json",
            *option_args(case.options),
        )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 4
    for row in rows:
        assert row["ts"].endswith("Z") and "T" in row["ts"]
        assert {"value", "unit", "quantity", "raw", "conversions"} <= row.keys()
        bytes.fromhex(row["raw"])
        if row["unit"] == "uSv/h":
            assert row["dose_rate_uSv_h"] == row["value"]
    case.check(rows, device)


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_journals_the_emulators_readings(name: str, tmp_path: Path, run_cli) -> None:
    case = CASES[name]
    device = case.device()
    journal = tmp_path / "j.sqlite"
    with PtyEmulator(device, link=tmp_path / "by-id-link") as emu:
        config = write_config(tmp_path, name, emu.port, case.options)
        proc = run_cli("run", "--config", str(config), "--journal", str(journal), "--duration", "2.5", "--json")
    assert proc.returncode == 0, proc.stderr
    rows = [dict(r) for r in journal_rows(journal, "SELECT * FROM readings ORDER BY seq")]
    assert len(rows) >= 5, proc.stderr
    for row in rows:
        row["conversions"] = json.loads(row["conversions"])
    case.check(rows, device)
    states = [r["state"] for r in journal_rows(journal, "SELECT state FROM meter_events ORDER BY seq")]
    assert states[:2] == ["connecting", "connected"]

    listed = run_cli("meters", "list", "--config", str(config), "--journal", str(journal), "--json")
    assert listed.returncode == 0, listed.stderr
    [meter] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert meter["id"] == "m1" and meter["driver"] == name and meter["last_reading"]


def start_run(config: Path, journal: Path, duration_s: float) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            radsurvey_bin(),
            "--log-json",
            "run",
            "--config",
            str(config),
            "--journal",
            str(journal),
            "--duration",
            str(duration_s),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reasons_when(journal: Path, proc: subprocess.Popen[str], done: Any, what: str, timeout_s: float = 40) -> None:
    """Wait (bounded) until ``done(meter_events rows)`` holds in the journal of a running daemon."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the daemon ended while waiting for {what}"
        try:
            events = [dict(r) for r in journal_rows(journal, "SELECT state, reason FROM meter_events ORDER BY seq")]
        except sqlite3.Error:  # not created yet
            events = []
        if done(events):
            return
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {timeout_s} s")


@pytest.mark.parametrize("name", sorted(CASES))
def test_unplug_and_replug_mid_run(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    device = case.device()
    journal = tmp_path / "j.sqlite"
    with PtyEmulator(device, link=tmp_path / "usb-meter-if00") as emu:
        config = write_config(tmp_path, name, emu.port, case.options)
        proc = start_run(config, journal, 120.0)
        try:
            _reasons_when(journal, proc, lambda ev: any(e["state"] == "connected" for e in ev), "connection")
            time.sleep(1.0)  # a few readings before the unplug
            emu.unplug()
            _reasons_when(journal, proc, lambda ev: ev[-1]["state"] == "disconnected", "disconnection")
            emu.replug()
            _reasons_when(journal, proc, lambda ev: ev[-1]["state"] == "connected", "reconnection")
            time.sleep(1.0)  # readings after the replug
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "meter disconnected" for entry in logs)
    events = [dict(r) for r in journal_rows(journal, "SELECT state, reason FROM meter_events ORDER BY seq")]
    states = [e["state"] for e in events]
    first_gone = states.index("disconnected")
    assert "connected" in states[first_gone:], events
    rows = [dict(r) for r in journal_rows(journal, "SELECT * FROM readings ORDER BY seq")]
    for row in rows:
        row["conversions"] = json.loads(row["conversions"])
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts) and len(set(ts)) == len(ts)
    case.check(rows, device)
    # readings continued after the replug
    reconnect_ts = journal_rows(
        journal, "SELECT ts FROM meter_events WHERE state = 'connected' ORDER BY seq DESC LIMIT 1"
    )[0][0]
    assert any(t > reconnect_ts for t in ts)


@pytest.mark.parametrize("name", sorted(CASES))
def test_garbage_and_silence_become_meter_events_not_crashes(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    journal = tmp_path / "j.sqlite"
    with PtyEmulator(case.device()) as emu:
        config = write_config(tmp_path, name, emu.port, case.options, max_garbage=3, max_timeouts=2)
        proc = start_run(config, journal, 120.0)
        try:
            # Each phase starts once the daemon has seen the one before (meter faults are committed at once).
            _reasons_when(journal, proc, lambda ev: any(e["state"] == "connected" for e in ev), "connection")
            emu.fault = "garbage"
            _reasons_when(journal, proc, lambda ev: any("garbled" in e["reason"] for e in ev), "garbled event")
            emu.fault = "silence"
            _reasons_when(journal, proc, lambda ev: any(" within " in e["reason"] for e in ev), "timeout event")
            emu.fault = None
            _reasons_when(journal, proc, lambda ev: ev[-1]["state"] == "connected", "reconnection")
        finally:
            proc.send_signal(signal.SIGTERM)
            _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    events = [dict(r) for r in journal_rows(journal, "SELECT state, reason FROM meter_events ORDER BY seq")]
    reasons = " | ".join(e["reason"] for e in events)
    assert "garbled" in reasons, events
    assert " within " in reasons, events  # a timeout, mid-read or mid-reconnect
    assert events[-1]["state"] == "connected", events
    logs = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "garbled reply" for entry in logs)


def test_emulate_command_serves_a_meter_that_read_and_scan_find(tmp_path: Path, run_cli) -> None:
    link = tmp_path / "gmc"
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "gmc", "--link", str(link), "-o", "model=GMC-500+", "-o", "step=2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = emu.stdout.readline()
        assert str(link) in first
        read = run_cli(
            "meters", "read", "--driver", "gmc", "--port", str(link), "-n", "2", "--interval", "0.1", "--json"
        )
        assert read.returncode == 0, read.stderr
        assert [json.loads(line)["value"] for line in read.stdout.splitlines()] == [120.0, 122.0]
        scan = run_cli("meters", "scan", "--probe", "--port", str(link), "--json")
        assert scan.returncode == 0, scan.stderr
        [row] = [json.loads(line) for line in scan.stdout.splitlines() if str(link) in line]
        assert row["answered"]["driver"] == "gmc" and row["answered"]["model"] == "GMC-500+"
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert emu.returncode == 0
    assert not link.exists()


def test_scan_probe_finds_a_radpro_on_a_named_port(tmp_path: Path, run_cli) -> None:
    link = tmp_path / "radpro"
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "radpro", "--link", str(link), "-o", "firmware=2.0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert str(link) in emu.stdout.readline()
        scan = run_cli("meters", "scan", "--probe", "--port", str(link), "--json")
        assert scan.returncode == 0, scan.stderr
        [row] = [json.loads(line) for line in scan.stdout.splitlines() if str(link) in line]
        assert row["answered"]["driver"] == "radpro", row
        assert row["answered"]["firmware"] == "Rad Pro 2.0/en" and row["answered"]["baudrate"] == "115200"
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert emu.returncode == 0


def test_read_names_a_missing_port_in_one_line(run_cli, tmp_path: Path) -> None:
    proc = run_cli("meters", "read", "--driver", "radpro", "--port", str(tmp_path / "nothing"))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr


def test_emulated_meters_example_config_is_valid(run_cli) -> None:
    from .conftest import REPO

    proc = run_cli("config", "check", str(REPO / "config" / "examples" / "emulated-meters.toml"))
    assert proc.returncode == 0, proc.stderr


def test_meters_list_without_a_journal_says_unknown(tmp_path: Path, run_cli) -> None:
    config = write_config(tmp_path, "gmc", "/dev/serial/by-id/usb-x", {})
    proc = run_cli("meters", "list", "--config", str(config), "--journal", str(tmp_path / "none.sqlite"))
    assert proc.returncode == 0, proc.stderr
    assert "m1" in proc.stdout and "unknown" in proc.stdout and "port=/dev/serial/by-id/usb-x" in proc.stdout


def test_scan_lists_ports_as_json(run_cli) -> None:
    proc = run_cli("meters", "scan", "--json")
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        assert {"device", "usb", "serial", "by_id", "guess"} <= row.keys()


def test_bad_radpro_option_is_a_config_error_for_check_run_and_read(tmp_path: Path, run_cli) -> None:
    config = write_config(tmp_path, "radpro", str(tmp_path / "rp"), {"dead_time_s": -0.001})
    for args in (("config", "check", str(config)), ("run", "--config", str(config), "--duration", "5")):
        proc = run_cli(*args)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "meters[m1].dead_time_s: must be seconds from 0 to 0.01" in proc.stderr
    with PtyEmulator(CASES["radpro"].device()) as emu:
        proc = run_cli("meters", "read", "--driver", "radpro", "--port", emu.port, "-o", "sensitivity_cpm_per_uSv_h=0")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "sensitivity_cpm_per_uSv_h: must be a number of cpm per uSv/h above 0" in proc.stderr


def test_emulate_refuses_to_replace_a_file_and_names_a_missing_directory(tmp_path: Path, run_cli) -> None:
    precious = tmp_path / "notes.txt"
    precious.write_text("do not lose me")
    for name in ("gmc", "modbus"):
        extra = ["--pty"] if name == "modbus" else []
        proc = run_cli("meters", "emulate", name, *extra, "--link", str(precious), timeout_s=30)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip().count("\n") == 0
        assert f"--link {precious}: exists and is not a symlink" in proc.stderr
    assert precious.read_text() == "do not lose me"
    missing = tmp_path / "absent" / "gmc"
    proc = run_cli("meters", "emulate", "gmc", "--link", str(missing), timeout_s=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().count("\n") == 0
    assert f"directory {missing.parent} does not exist" in proc.stderr


@pytest.mark.parametrize(
    "emulate",
    [
        ["gmc", "-o", "model=GMC-600+"],
        ["radpro"],
        ["ascii", "-o", "profile=netio-gc10", "-o", "period_s=0.3"],
        ["ascii", "-o", 'poll_command="R\\r"'],
        ["scpi", "-o", "measure_query=MEAS:CURR?"],
        ["modbus", "-o", "address=200", "-o", "data_type=u16", "-o", "unit_id=3", "-o", "value=7"],
        ["modbus", "--pty", "-o", "data_type=i32", "-o", "word_order=little", "-o", "value=-5"],
    ],
    ids=lambda args: "-".join(a for a in args if not a.startswith("-"))[:40],
)
def test_the_printed_hint_reads_the_running_emulator(emulate: list[str], tmp_path: Path, run_cli) -> None:
    import shlex

    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", *emulate],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "emulator ready" in emu.stdout.readline()
        hint = emu.stderr.readline()
        assert hint.startswith("try: radsurvey meters read "), hint
        argv = shlex.split(hint.removeprefix("try: "))
        # the hint exactly as printed, with fewer readings to keep the test short
        read = run_cli(*argv[1:], "--count", "2", "--json", timeout_s=60)
        assert read.returncode == 0, (hint, read.stderr)
        rows = [json.loads(line) for line in read.stdout.splitlines()]
        assert len(rows) == 2, (hint, read.stdout)
        if emulate[0] == "modbus":
            assert {r["meter_value"] for r in rows} == {float(emulate[-1].partition("=")[2])}
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert emu.returncode == 0


def test_read_help_lists_the_drivers_and_an_unknown_option_lists_the_valid_ones(run_cli, tmp_path: Path) -> None:
    helped = run_cli("meters", "read", "--help", env={"COLUMNS": "200"})
    from radsurvey.drivers import registry

    assert f"driver name: {', '.join(registry.names())}" in " ".join(helped.stdout.split())
    assert {"radiacode", "radeye"} <= set(registry.names())
    proc = run_cli("meters", "read", "--driver", "gmc", "--port", str(tmp_path / "x"), "-o", "sensitivity=153.8")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    hint = "sensitivity: unknown key (did you mean 'sensitivity_cpm_per_uSv_h'?); valid keys: auto_baud, baudrate, "
    assert hint in proc.stderr
