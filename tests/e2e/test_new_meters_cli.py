"""Issue 18 acceptance: RadiaCode over the TCP byte stream, read exactly, by `meters read` and `run`."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import tomli_w

from radsurvey.drivers.emulator import PtyEmulator, TcpEmulator
from radsurvey.drivers.radiacode.emulator import RadiaCodeDevice

from .conftest import radsurvey_bin
from .test_meters_cli import journal_rows, start_run

pytestmark = pytest.mark.e2e


def run_and_read(tmp_path: Path, meter: dict) -> tuple[list, str]:
    """`radsurvey run` with one meter for 4 s; the journal's readings (value, meter_value, unit) and stderr."""
    journal = tmp_path / "j.sqlite"
    config = tmp_path / "c.toml"
    config.write_text(tomli_w.dumps({"meters": [meter]}))
    proc = start_run(config, journal, 4.0)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return journal_rows(journal, "SELECT value, meter_value, unit FROM readings ORDER BY seq"), err


def test_meters_read_reads_the_radiacode_emulator_over_tcp_exactly(run_cli) -> None:
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "radiacode"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        where = emu.stdout.readline().split()[-1]
        assert where.startswith("tcp://127.0.0.1:"), where
        hint = emu.stderr.readline()
        assert f"--port {where}" in hint, hint
        read = run_cli(
            "meters", "read", "--driver", "radiacode", "--port", where, "-n", "3", "--interval", "0.1", "--json"
        )
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert read.returncode == 0, read.stderr
    rows = [json.loads(line) for line in read.stdout.splitlines()]
    # the emulator serves (168 + n) / 2**24 device units; uSv/h = x 10000
    assert [r["meter_value"] for r in rows] == [(168 + n) / 2**24 for n in range(3)]
    assert [r["dose_rate_uSv_h"] for r in rows] == [(168 + n) / 2**24 * 10_000 for n in range(3)]


def test_an_old_radiacode_firmware_is_one_clear_line(run_cli) -> None:
    with TcpEmulator(RadiaCodeDevice(old_firmware=True)) as emu:
        read = run_cli("meters", "read", "--driver", "radiacode", "--port", emu.where)
    assert read.returncode != 0 and "Traceback" not in read.stderr
    assert read.stderr.strip().count("\n") == 0, read.stderr
    assert "RadiaCode firmware 4.7 is older than 4.8" in read.stderr


def test_run_journals_exactly_the_radiacode_dose_rates(tmp_path: Path) -> None:
    device = RadiaCodeDevice(split_frames=True)
    with TcpEmulator(device) as emu:
        rows, err = run_and_read(
            tmp_path, {"id": "rc", "driver": "radiacode", "poll_interval_s": 0.2, "port": emu.where}
        )
        served = list(device.served)
    assert len(rows) >= 3, err
    assert [r["meter_value"] for r in rows] == served[: len(rows)]
    assert all(r["unit"] == "uSv/h" and r["value"] == r["meter_value"] * 10_000 for r in rows)


def test_meters_read_reads_the_radeye_emulator_exactly(run_cli) -> None:
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "radeye", "-o", "period_s=0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        where = emu.stdout.readline().split()[-1]
        read = run_cli("meters", "read", "--driver", "radeye", "--port", where, "-n", "3", "--json")
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert read.returncode == 0, read.stderr
    rows = [json.loads(line) for line in read.stdout.splitlines()]
    assert [r["dose_rate_uSv_h"] for r in rows] == [0.12, 0.13, 0.14]


def test_run_journals_exactly_the_radeye_records_across_a_unit_change(tmp_path: Path) -> None:
    from radsurvey.drivers.radeye.emulator import RadEyeDevice

    device = RadEyeDevice(period_s=0.2, unit_change=True)
    with PtyEmulator(device) as emu:  # the driver sets the pty to 9600 7E2
        rows, err = run_and_read(tmp_path, {"id": "re", "driver": "radeye", "poll_interval_s": 0.2, "port": emu.port})
        served = list(device.served)
    assert len(rows) >= 4, err
    assert [(r["meter_value"], r["unit"]) for r in rows[:4]] == [(c, "uSv/h") for c, _ in served[:4]]
    assert [r["value"] for r in rows[:4]] == [c / 100 for c, _ in served[:4]]


def test_meters_read_reads_a_bdkg_over_modbus_rtu_with_its_preset(tmp_path: Path, run_cli) -> None:
    link = tmp_path / "usb-Atomtex_BDKG-if00"
    emu = subprocess.Popen(
        [
            radsurvey_bin(),
            "meters",
            "emulate",
            "modbus",
            "--pty",
            "--bdkg",
            "--link",
            str(link),
            "-o",
            "step=3.725290298461914e-09",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "emulator ready" in emu.stdout.readline()
        hint = emu.stderr.readline()
        assert "-o preset=bdkg -o init=bdkg" in hint, hint
        read = run_cli(
            "meters",
            "read",
            "--driver",
            "modbus",
            "--port",
            str(link),
            "-o",
            "preset=bdkg",
            "-o",
            "init=bdkg",
            "-n",
            "3",
            "--interval",
            "0.1",
            "--json",
        )
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert read.returncode == 0, read.stderr
    rows = [json.loads(line) for line in read.stdout.splitlines()]
    # the emulator serves 2**-23 + n * 2**-28 Sv/h; n = 0 answered identify
    assert [r["meter_value"] for r in rows] == [2**-23 + n * 2**-28 for n in (1, 2, 3)]
    assert [r["dose_rate_uSv_h"] for r in rows] == [(2**-23 + n * 2**-28) * 1e6 for n in (1, 2, 3)]


def test_run_reads_a_bdkg_over_modbus_rtu(tmp_path: Path) -> None:
    from radsurvey.drivers.modbus.emulator import ModbusEmulator

    link = tmp_path / "usb-Atomtex_BDKG-if00"
    with ModbusEmulator(pty=True, link=link, bdkg=True, step=2.0**-28) as emu:
        meter = {"id": "bdkg", "driver": "modbus", "poll_interval_s": 0.2, "port": str(link)}
        rows, err = run_and_read(tmp_path, {**meter, "preset": "bdkg", "init": "bdkg"})
        served = list(emu.served)
        assert emu.started
    assert len(rows) >= 3, err
    assert [r["meter_value"] for r in rows] == served[1 : 1 + len(rows)]
    assert all(r["unit"] == "uSv/h" and r["value"] == r["meter_value"] * 1e6 for r in rows)
