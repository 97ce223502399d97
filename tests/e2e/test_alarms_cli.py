"""``radsurvey alarms list|history|ack`` and ``radsurvey status`` on a journal a daemon wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CONFIG = """
[site]
id = "cli"
[journal]
path = "j.sqlite"
commit_interval_s = 0.05
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.05
background_uGy_h = 50.0
counts_per_uGy = 1e8
[[meters]]
id = "spare"
driver = "simulated"
enabled = false
[[channels]]
id = "desk"
meter = "sim"
room_category = 7          # dwelling next to a dental room: DMD_E 0.3 uSv/h
averaging_window_s = 0.1
[[channels.alarms]]
kind = "instant"
level_uSv_h = 1
window_s = 0.2
latching = true
"""


@pytest.fixture
def journal_with_an_alarm(tmp_path: Path, run_cli) -> Path:  # type: ignore[no-untyped-def]
    (tmp_path / "cfg.toml").write_text(CONFIG)
    out = run_cli("run", "--config", "cfg.toml", "--duration", "1.5", "--json")
    assert out.returncode == 0, out.stderr
    return tmp_path / "cfg.toml"


def test_list_shows_the_latched_alarm(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("alarms", "list", "--config", str(journal_with_an_alarm), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["channel"], r["rule"], r["state"], r["latched"]) for r in rows] == [("desk", "instant", "alarm", True)]


def test_history_filters_by_time(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    everything = run_cli("alarms", "history", "--config", str(journal_with_an_alarm), "--since", "2000-01-01", "--json")
    future = run_cli("alarms", "history", "--config", str(journal_with_an_alarm), "--since", "2999-01-01", "--json")
    assert everything.returncode == future.returncode == 0
    assert len(everything.stdout.splitlines()) == 1 and future.stdout == ""
    bad = run_cli("alarms", "history", "--config", str(journal_with_an_alarm), "--since", "yesterday")
    assert bad.returncode == 2 and bad.stderr.startswith("radsurvey: error: --since: not an ISO-8601")


def test_ack_while_the_daemon_is_stopped_is_queued(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("alarms", "ack", "desk", "--by", "me", "--config", str(journal_with_an_alarm))
    assert out.returncode == 0 and out.stdout.startswith("queued (request 1): the daemon is not running")
    # the next run applies it: the latched alarm is acknowledged by "me"
    run = run_cli("run", "--config", str(journal_with_an_alarm), "--duration", "1.5", "--json")
    assert run.returncode == 0, run.stderr
    rows = run_cli("alarms", "history", "--config", str(journal_with_an_alarm), "--json").stdout.splitlines()
    assert any(json.loads(r)["event"] == "ack" and json.loads(r)["acknowledged_by"] == "me" for r in rows)


def test_ack_needs_a_name(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("alarms", "ack", "desk", "--by", " ", "--config", str(journal_with_an_alarm))
    assert out.returncode == 2 and "--by" in out.stderr


def test_status_shows_channels_meters_alarms_and_sinks(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("status", "--config", str(journal_with_an_alarm), "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["running"] is False and data["last_run"]["clean"] == 1
    assert data["channels"]["desk"]["last"]["limit_uSv_h"] == 0.3
    # The daemon has stopped: its meter is not "connected" any more, whatever the journal last said.
    sim = data["meters"]["sim"]["state"]
    assert sim["state"] == "stopped" and sim["reason"].startswith("daemon not running (last connected at ")
    assert sim["ts"] == data["last_run"]["stopped_at"] and data["meters"]["spare"]["state"] is None
    assert [a["state"] for a in data["alarms"]] == ["alarm"] and data["sinks"] == {}
    text = run_cli("status", "--config", str(journal_with_an_alarm))
    assert text.returncode == 0 and "alarms not normal" in text.stdout and "desk" in text.stdout


def test_list_with_the_config_also_shows_rules_that_never_left_normal(journal_with_an_alarm: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    text = journal_with_an_alarm.read_text() + '[[channels.alarms]]\nkind = "twa"\n'
    journal_with_an_alarm.write_text(text)
    out = run_cli("alarms", "list", "--config", str(journal_with_an_alarm), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(r["rule"], r["state"]) for r in rows] == [("instant", "alarm"), ("twa", "normal")]


def test_status_says_when_no_alarm_rules_are_configured(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    head = CONFIG.split("[[channels.alarms]]")[0]
    (tmp_path / "plain.toml").write_text(head)
    text = run_cli("status", "--config", "plain.toml")
    assert text.returncode == 0, text.stderr
    assert "alarms: none configured" in text.stdout and "all normal" not in text.stdout
    data = json.loads(run_cli("status", "--config", "plain.toml", "--json").stdout)
    assert data["alarm_rules"] == []
    (tmp_path / "ruled.toml").write_text(CONFIG)
    text = run_cli("status", "--config", "ruled.toml")
    assert text.returncode == 0 and "alarms: all normal" in text.stdout  # no journal yet: nothing left normal
