"""Issue 21 §2: a meter sending values without physics (``V 1e300``, ``V -5``) leaves the dose record untouched.

A text-line meter on a pty says, over and over: 0.5 uSv/h, 1e300 uSv/h, -5 uSv/h, 0.7 uSv/h. Every line is
journaled as a reading (kept for audit); the two impossible ones as ``fault`` readings that become no sample,
so E, the alarms, the aggregates and the yearly dose record only ever see 0.5 and 0.7.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import tomli_w

from radsurvey.daemon.journal import queries
from radsurvey.drivers.ascii.emulator import AsciiDevice
from radsurvey.drivers.emulator import PtyEmulator

pytestmark = pytest.mark.e2e

LINES = ["V 0.5", "V 1e300", "V -5", "V 0.7"]


def test_values_without_physics_are_fault_readings_and_never_reach_the_dose_record(tmp_path: Path, run_cli) -> None:
    journal = tmp_path / "j.sqlite"
    device = AsciiDevice(profile="mightyohm", lines=LINES, period_s=0.1)
    with PtyEmulator(device) as emu:
        meter = {"id": "m1", "driver": "ascii", "port": emu.port, "pattern": r"^V (?P<value>\S+)$",
                 "unit": "uSv/h", "poll_interval_s": 0.1, "timeout_s": 1.0}  # fmt: skip
        channel = {"id": "desk", "meter": "m1", "room_category": 1, "averaging_window_s": 0.05,
                   "alarms": [{"kind": "instant", "level_uSv_h": 100.0}]}  # fmt: skip
        config = tmp_path / "radsurvey.toml"
        config.write_text(tomli_w.dumps({"site": {"id": "t"}, "meters": [meter], "channels": [channel]}))
        proc = run_cli("run", "--config", str(config), "--journal", str(journal), "--duration", "3", "--json")
    assert proc.returncode == 0, proc.stderr
    conn = sqlite3.connect(journal)
    conn.row_factory = sqlite3.Row
    readings = [dict(r) for r in conn.execute("SELECT seq, value, status, conversions FROM readings ORDER BY seq")]
    samples = [dict(r) for r in conn.execute("SELECT reading_seq, value_uGy_h, effective_uSv_h FROM samples")]
    alarms = conn.execute("SELECT COUNT(*) FROM alarm_events WHERE rule = 'instant'").fetchone()[0]
    conn.close()
    values = {r["value"] for r in readings}
    assert {0.5, 1e300, -5.0, 0.7} <= values, values  # every line is kept, as the meter said it
    for r in readings:
        implausible = r["value"] in (1e300, -5.0)
        assert ("fault" in json.loads(r["status"])) == implausible, r
        notes = [c for c in json.loads(r["conversions"]) if c["name"] == "implausible"]
        assert bool(notes) == implausible
        if implausible:
            assert "outside the plausible 0-1e+07" in notes[0]["detail"]
    used = {r["seq"] for r in readings if r["value"] in (0.5, 0.7)}
    assert samples and {s["reading_seq"] for s in samples} == used
    assert max(s["effective_uSv_h"] for s in samples) <= 0.7 * 0.5 + 1e-9  # E = 0.5 * D, D at most 0.7
    assert alarms == 0  # 1e300 tripped nothing
    [year] = queries.dose_record(journal)
    assert year["channel"] == "desk" and year["samples"] == len(samples)
    assert 0 <= year["dose_uSv"] < 0.001 and year["max_uSv_h"] <= 0.35 + 1e-9  # 3 s at most 0.35 uSv/h
    warned = [line for line in proc.stderr.splitlines() if "implausible reading" in line]
    assert len(warned) == 1  # one warning a minute, not one per reading
