"""``radsurvey alarms ack`` tells the truth: unknown targets refused at once, daemon rejections reported,
and ``--mqtt`` publishes a signed acknowledgement that a running daemon applies (real mosquitto)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from radsurvey.daemon.alarms import store
from tests.e2e.conftest import radsurvey_bin
from tests.e2e.test_alarms_cli import CONFIG
from tests.servers import Mosquitto

pytestmark = pytest.mark.e2e


@pytest.fixture
def cfg(tmp_path: Path, run_cli) -> Path:  # type: ignore[no-untyped-def]
    (tmp_path / "cfg.toml").write_text(CONFIG)
    out = run_cli("run", "--config", "cfg.toml", "--duration", "1.5", "--json")
    assert out.returncode == 0, out.stderr
    return tmp_path / "cfg.toml"


def test_an_unknown_channel_or_rule_is_refused_at_once(cfg: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("alarms", "ack", "hall", "--by", "me", "--config", str(cfg))
    assert out.returncode == 2
    assert out.stderr == "radsurvey: error: channel 'hall' has no alarm rules (channels with rules: desk)\n"
    out = run_cli("alarms", "ack", "desk", "--rule", "twa", "--by", "me", "--journal", str(cfg.parent / "j.sqlite"))
    assert out.returncode == 2  # the journal's last run names its config: known without --config
    assert "channel 'desk' has no rule 'twa' (its rules: instant, journal_damaged, journal_write)" in out.stderr
    assert store.ack_requests(cfg.parent / "j.sqlite") == []  # nothing was queued


def test_a_queued_request_the_daemon_rejects_is_reported_by_status(cfg: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = run_cli("alarms", "ack", "desk", "--rule", "journal_write", "--by", "me", "--config", str(cfg))
    assert out.returncode == 0 and "queued (request 1)" in out.stdout and "radsurvey status" in out.stdout
    pending = run_cli("status", "--config", str(cfg))
    assert "acknowledgement request 1 (desk/journal_write by me): waiting for the daemon" in pending.stdout
    run = run_cli("run", "--config", str(cfg), "--duration", "1.5", "--json")
    assert run.returncode == 0, run.stderr
    after = run_cli("status", "--config", str(cfg))
    assert "acknowledgement request 1 (desk/journal_write by me): rejected: journal_write: " in after.stdout
    data = json.loads(run_cli("status", "--config", str(cfg), "--json").stdout)
    assert [r["id"] for r in data["ack_requests"]] == [1]
    assert data["ack_requests"][0]["result"].startswith("rejected: ")


def test_ack_over_mqtt_is_signed_and_applied_by_the_running_daemon(tmp_path: Path, cfg: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    broker = Mosquitto(tmp_path / "mosquitto")  # anonymous: only the signature proves who acknowledges
    broker.start()
    keys = tmp_path / "keys"
    keys.write_text("dr. Asel:0123456789abcdef0123\n")
    keys.chmod(0o600)
    text = CONFIG + f'\n[alarms.mqtt_ack]\nenabled = true\nport = {broker.port}\nkeys_file = "{keys}"\n'
    cfg.write_text(text)
    log = tmp_path / "daemon.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [radsurvey_bin(), "--log-json", "run", "--config", str(cfg), "--json"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp_path,
        )
    try:
        deadline = time.monotonic() + 30
        while "listening for alarm acknowledgements" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        out = run_cli("alarms", "ack", "desk", "--by", "dr. Asel", "--mqtt", "--config", str(cfg), "--wait", "10")
        assert out.returncode == 0, out.stderr
        assert out.stdout == "acknowledged instant on desk by dr. Asel\n"
        other = run_cli("alarms", "ack", "desk", "--by", "intruder", "--mqtt", "--config", str(cfg))
        assert other.returncode == 2 and f"{keys} has no key for 'intruder'" in other.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        broker.stop()
    assert "0123456789abcdef0123" not in log.read_text()


def test_after_the_daemon_stopped_no_meter_is_shown_connected(cfg: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    listed = [
        json.loads(line) for line in run_cli("meters", "list", "--config", str(cfg), "--json").stdout.splitlines()
    ]
    sim = next(m for m in listed if m["id"] == "sim")
    assert sim["state"] == "stopped" and sim["reason"].startswith("daemon not running (last connected at ")
    data = json.loads(run_cli("status", "--config", str(cfg), "--json").stdout)
    assert data["running"] is False and data["meters"]["sim"]["state"]["state"] == "stopped"
    text = run_cli("status", "--config", str(cfg)).stdout
    assert "daemon stopped" in text and "│ stopped " in text and "│ connected " not in text


def test_alarms_list_before_the_first_run_says_the_daemon_never_ran(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cfg.toml").write_text(CONFIG)
    out = run_cli("alarms", "list", "--config", "cfg.toml")
    assert out.returncode == 0
    assert out.stdout == f"no alarm states: the daemon has never run on journal {Path('j.sqlite')}\n"
    as_json = run_cli("alarms", "list", "--config", "cfg.toml", "--json")
    assert as_json.returncode == 0 and as_json.stdout == "" and "never run" in as_json.stderr


def test_journal_tail_of_an_unknown_channel_is_an_error(cfg: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    known = run_cli("journal", "tail", "--config", str(cfg), "--channel", "desk", "-n", "2", "--json")
    assert known.returncode == 0 and len(known.stdout.splitlines()) == 2
    out = run_cli("journal", "tail", "--config", str(cfg), "--channel", "hall")
    assert out.returncode == 2
    assert out.stderr == f"radsurvey: error: --channel: no channel 'hall' in {cfg} (channels: desk)\n"
    # Without a config the journal's last run names it; with neither, the journal's samples decide.
    bare = run_cli("journal", "tail", "--journal", str(cfg.parent / "j.sqlite"), "--channel", "hall")
    assert bare.returncode == 2 and "no channel 'hall'" in bare.stderr
    cfg.rename(cfg.parent / "moved.toml")
    gone = run_cli("journal", "tail", "--journal", str(cfg.parent / "j.sqlite"), "--channel", "hall")
    assert gone.returncode == 2 and "has no samples of channel 'hall'" in gone.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_log_json_before_and_after_the_subcommand(tmp_path: Path, run_cli, where: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "cfg.toml").write_text(CONFIG)
    args = ["run", "--config", "cfg.toml", "--duration", "0.5", "--json"]
    out = run_cli(*(["--log-json", *args] if where == "before" else [*args, "--log-json"]))
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines and all(json.loads(line)["event"] for line in lines)


def test_an_empty_config_file_is_an_error(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty.toml").write_text("")
    for args in (["config", "check", "empty.toml"], ["run", "--config", "empty.toml", "--duration", "0.1"]):
        out = run_cli(*args)
        assert out.returncode == 2
        assert out.stderr.startswith("radsurvey: error: empty.toml: 1 problem\n  meters: no meters: ")
