"""Acceptance of issue 11: `radsurvey meters read` reads every emulator quirk mode with no extra option.

Each mode runs as a user would run it: `radsurvey meters emulate DRIVER <flags> --link PATH`,
then the `try: radsurvey meters read ...` line it prints (only where to connect, and the
ascii profile), on real ptys.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from pathlib import Path

import pytest

from tests.emulator_modes import MODES, Mode

from .conftest import radsurvey_bin

pytestmark = pytest.mark.e2e

QUIRK_OPTIONS = {"stale_bytes", "nul_volt", "cpm_bytes", "baudrate", "counter_reset", "stock_banner", "keithley"}


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.id)
def test_meters_read_reads_the_mode_as_the_emulator_says(mode: Mode, tmp_path: Path, run_cli) -> None:
    where = [] if mode.extra.get("tcp") else ["--link", str(tmp_path / "meter")]
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", mode.driver, *where, *mode.flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "emulator ready" in emu.stdout.readline()
        hint = emu.stderr.readline()
        assert hint.startswith("try: radsurvey meters read "), hint
        argv = shlex.split(hint.removeprefix("try: "))[1:]
        given = {a.partition("=")[0] for a in argv[argv.index("-o") + 1 :: 2]} if "-o" in argv else set()
        assert not given & QUIRK_OPTIONS, hint  # no option that knows about the quirk
        read = run_cli(*argv, "--count", str(mode.count), "--json", timeout_s=mode.read_timeout_s + 30)
        assert read.returncode == 0, (hint, read.stderr)
        rows = [json.loads(line) for line in read.stdout.splitlines()]
        [identity_line] = [line for line in read.stderr.splitlines() if line.startswith('{"identity"')]
        identity = json.loads(identity_line)["identity"]
        assert len(rows) == mode.count, read.stdout
        mode.check(rows, identity)
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)
    assert emu.returncode == 0


def test_gmc_read_on_rad_pro_names_the_radpro_driver(tmp_path: Path, run_cli) -> None:
    link = tmp_path / "gmc800"
    emu = subprocess.Popen(
        [radsurvey_bin(), "meters", "emulate", "radpro", "--gmc800", "--link", str(link)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "emulator ready" in emu.stdout.readline()
        read = run_cli("meters", "read", "--driver", "gmc", "--port", str(link))
        assert read.returncode != 0 and "Traceback" not in read.stderr
        assert read.stderr.strip().count("\n") == 0, read.stderr
        assert 'runs the Rad Pro firmware; use driver = "radpro"' in read.stderr
        scan = run_cli("meters", "scan", "--probe", "--port", str(link), "--json")
        [row] = [json.loads(line) for line in scan.stdout.splitlines() if str(link) in line]
        assert row["answered"]["driver"] == "radpro" and row["answered"]["model"].startswith("GQ GMC-800")
    finally:
        emu.send_signal(signal.SIGINT)
        emu.communicate(timeout=10)


def test_a_mode_the_emulator_does_not_have_is_one_clear_error(run_cli) -> None:
    proc = run_cli("meters", "emulate", "radpro", "--stock-banner", timeout_s=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the radpro emulator has no mode --stock-banner" in proc.stderr


def test_options_take_the_toml_inline_table_the_readme_shows(run_cli, tmp_path: Path) -> None:
    # a bad value inside the table shows it was read as a table (not as text)
    proc = run_cli(
        "meters", "read", "--driver", "modbus", "--host", "127.0.0.1:1",
        "-o", "address=1", "-o", "status_address=2", "-o", 'status_bits={ 0 = "over_range", 1 = "nonsense" }',
    )  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "status_bits[1] = 'nonsense'" in proc.stderr, proc.stderr


@pytest.mark.parametrize("model", ["gmc-500-1.08", "gmc-600+-2.26", "gmc-300e+-4.54"])
def test_the_daemon_stays_connected_to_2_byte_and_57600_baud_gmcs(model: str, tmp_path: Path, run_cli) -> None:
    import sqlite3

    import tomli_w

    from radsurvey.drivers.emulator import PtyEmulator
    from radsurvey.drivers.gmc.emulator import GmcDevice

    device = GmcDevice(model=model, step=1)
    journal = tmp_path / "j.sqlite"
    with PtyEmulator(device, link=tmp_path / "usb-gmc") as emu:
        meter = {"id": "g", "driver": "gmc", "port": emu.port, "poll_interval_s": 0.2, "read_clock": False}
        config = tmp_path / "meters.toml"
        config.write_text(tomli_w.dumps({"site": {"id": "test"}, "meters": [meter]}))
        proc = run_cli("run", "--config", str(config), "--journal", str(journal), "--duration", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    conn = sqlite3.connect(journal)
    try:
        states = [r[0] for r in conn.execute("SELECT state FROM meter_events ORDER BY seq")]
        values = [r[0] for r in conn.execute("SELECT meter_value FROM readings ORDER BY seq")]
    finally:
        conn.close()
    assert states == ["connecting", "connected"], states  # no timeouts, no reconnects
    assert len(values) >= 5 and values == list(range(120, 120 + len(values))), values
