"""Local commands on alarm state changes: failures become a fault, never a crash."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.alarm_support import T0, Clock, events, feed, make_config, running, until

RULES = [{"kind": "instant", "level_uSv_h": 50, "warning_fraction": 0}]


async def test_the_command_gets_the_alarm_fields_and_no_secrets(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("RADSURVEY_MQTT_PASSWORD", "secret")
    out = tmp_path / "env.txt"
    code = f"import json, os; open({str(out)!r}, 'w').write(json.dumps(dict(os.environ)))"
    cfg = make_config(tmp_path, RULES, command={"argv": [sys.executable, "-c", code]})
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: service.commands.runs == 1)
    env = json.loads(out.read_text())
    assert env["RADSURVEY_ALARM_STATE"] == "alarm" and env["RADSURVEY_ALARM_CHANNEL"] == "desk"
    assert env["RADSURVEY_ALARM_RULE"] == "instant" and env["RADSURVEY_ALARM_LEVEL"] == "50.0"
    assert "RADSURVEY_MQTT_PASSWORD" not in env


async def test_a_failing_command_raises_an_action_fault_that_the_next_success_clears(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.write_text("")
    code = f"import os, sys; sys.exit(3 if os.path.exists({str(flag)!r}) else 0)"
    cfg = make_config(tmp_path, RULES, command={"argv": [sys.executable, "-c", code]})
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: service.commands.runs == 1)
        flag.unlink()
        feed(daemon, clock, T0 + 20, T0 + 40, 0.0)
        await until(lambda: service.commands.runs >= 2)
        await daemon.journal.aflush()
    action = [(e["state"], e["value"]) for e in events(cfg) if e["rule"] == "action"]
    assert action == [("fault", 1.0), ("normal", 0.0)]


async def test_a_command_that_hangs_is_killed_at_its_timeout(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, RULES, command={"argv": [sys.executable, "-c", "import time; time.sleep(30)"], "timeout_s": 0.3}
    )
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: service.commands.runs == 1)
        assert service.current()[-1]["rule"] == "action" and service.current()[-1]["state"] == "fault"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a parent that does not reap it counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_a_command_that_times_out_is_killed_with_the_children_it_started(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    cfg = make_config(tmp_path, RULES, command={"argv": ["sh", "-c", script], "timeout_s": 0.5})
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: pidfile.exists() and pidfile.read_text().strip() != "")
        child = int(pidfile.read_text())
        assert alive(child)
        await until(lambda: service.commands.runs == 1)
        await until(lambda: not alive(child), 5)
        assert service.current()[-1]["state"] == "fault"


async def test_a_missing_program_is_a_fault_not_a_crash(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, RULES, command={"argv": [str(tmp_path / "no-such-program")]})
    clock = Clock(T0)
    async with running(cfg, clock) as (daemon, service):
        feed(daemon, clock, T0, T0 + 20, 100.0)
        await until(lambda: service.commands.runs == 1)
        assert {r["rule"]: r["state"] for r in service.current()} == {"instant": "alarm", "action": "fault"}
