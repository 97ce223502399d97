"""``radsurvey run`` on the demo config, as a subprocess, stopped with SIGTERM."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from .conftest import REPO, radsurvey_bin

DEMO = REPO / "config" / "examples" / "demo.toml"


def start(journal: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [radsurvey_bin(), "--log-json", "run", "--config", str(DEMO), "--journal", str(journal), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_demo_runs_writes_the_journal_and_shuts_down_cleanly_on_sigterm(tmp_path: Path) -> None:
    journal = tmp_path / "demo.sqlite"
    proc = start(journal, "--json")
    time.sleep(4.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err

    samples = [json.loads(line) for line in out.splitlines()]
    assert len(samples) >= 3
    assert {"seq", "channel", "net_uGy_h", "effective_uSv_h", "limit_uSv_h", "ratio"} <= samples[0].keys()

    conn = sqlite3.connect(journal)
    readings = [r[0] for r in conn.execute("SELECT seq FROM readings ORDER BY seq")]
    all_seqs = [
        r[0]
        for r in conn.execute(
            "SELECT seq FROM readings UNION ALL SELECT seq FROM samples"
            " UNION ALL SELECT seq FROM meter_events ORDER BY seq"
        )
    ]
    assert len(readings) >= 3
    assert readings == sorted(readings) and len(set(all_seqs)) == len(all_seqs)
    assert conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == len(readings)
    # every sample printed was committed, with the same seq
    stored = {r[0] for r in conn.execute("SELECT seq FROM samples")}
    assert {s["seq"] for s in samples} <= stored
    (clean, stopped) = conn.execute("SELECT clean, stopped_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
    assert clean == 1 and stopped is not None
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(e.get("event") == "stop requested" and e.get("reason") == "SIGTERM" for e in events)


def test_duration_stops_the_daemon_by_itself(tmp_path: Path, run_cli) -> None:
    journal = tmp_path / "d.sqlite"
    result = run_cli("run", "--config", str(DEMO), "--journal", str(journal), "--duration", "2", timeout_s=30)
    assert result.returncode == 0, result.stderr
    assert "net=" in result.stdout  # not a terminal: one text line per sample


def test_journal_commands_read_a_running_daemons_journal(tmp_path: Path, run_cli) -> None:
    journal = tmp_path / "live.sqlite"
    proc = start(journal)
    try:
        # the demo commits every 10 s (the default commit_interval_s): wait for two samples on disk (bounded)
        deadline = time.monotonic() + 45
        while True:
            stats = run_cli("journal", "stats", "--journal", str(journal), "--json")
            data = json.loads(stats.stdout) if stats.returncode == 0 else None  # not created yet: wait
            if (data is not None and data["tables"]["samples"]["rows"] >= 2) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        tail = run_cli("journal", "tail", "--journal", str(journal), "-n", "2", "--json", "--channel", "control-desk")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert stats.returncode == 0 and data is not None, stats.stderr
    assert data["tables"]["readings"]["rows"] >= 1 and data["last_run"]["stopped_at"] is None
    rows = [json.loads(line) for line in tail.stdout.splitlines()]
    assert len(rows) == 2 and rows[0]["seq"] < rows[1]["seq"] and rows[0]["channel"] == "control-desk"


def test_invalid_config_exits_non_zero_with_key_paths(tmp_path: Path, run_cli) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[site]\nid = "x"\n[[meters]]\nid = "m"\ndriver = "simulated"\nseeed = 1\n'
        '[[channels]]\nid = "c"\nmeter = "m"\nroom_category = 8\n'
    )
    for args in (("config", "check", str(bad)), ("run", "--config", str(bad), "--duration", "1")):
        result = run_cli(*args)
        assert result.returncode == 2
        assert "meters[m].seeed: unknown key" in result.stderr or "meters[m].seeed" in result.stderr
        assert "channels[c]" in result.stderr
        assert "Traceback" not in result.stderr


def test_config_check_accepts_the_demo(run_cli) -> None:
    result = run_cli("config", "check", str(DEMO))
    assert result.returncode == 0 and "ok" in result.stdout
