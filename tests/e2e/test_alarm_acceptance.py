"""Acceptance: a simulated exposure over a ward's limit, through the real ``radsurvey run``.

The twa rule must warn and then alarm at exactly the samples where an
independent computation of the time-weighted average from the journaled
samples crosses DMD_E/2 and DMD_E, clear by itself after the exposure, and the
latching instant rule must stay until ``radsurvey alarms ack`` while the daemon
runs. The configured command runs for every change with the alarm's fields.

MQTT: the MQTT sink publishes each ``alarm_events`` row on its rule's retained
topic and the channel's worst state on the retained channel topic. The first
test asserts the rows; the second reads the retained messages back from
mosquitto: after the twa cycle the channel must still show the latched instant
alarm, although the latest event is the twa returning to normal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.alarms import store

pytestmark = pytest.mark.e2e

CONFIG = """
[site]
id = "ward"
[journal]
path = "{journal}"
commit_interval_s = 0.05
[alarms]
tick_interval_s = 60
ack_poll_interval_s = 0.1
command = {{ argv = ["{python}", "{script}", "{log}"], timeout_s = 10 }}

[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.1
background_uGy_h = 0.1
beam_uGy_h = 5.0          # E = 0.5 x 5 = 2.5 uSv/h while the beam is on
beam_period_s = 1000
beam_on_s = 4
beam_start_s = 2
counts_per_uGy = 1e8      # practically noise-free

[[channels]]
id = "ward5"
meter = "sim"
room_category = 5         # hospital ward: DMD_E 1.3 uSv/h, 1 mSv/year, 3000 h/year
background_uGy_h = 0.1
averaging_window_s = 0.05

[[channels.alarms]]
kind = "twa"
window_s = 4
min_coverage = 0.25
max_gap_s = 1

[[channels.alarms]]
kind = "instant"
level_uSv_h = 2.0
window_s = 0.5
warning_fraction = 0
latching = true
"""

SCRIPT = """
import json, os, sys
fields = {k[len("RADSURVEY_ALARM_"):]: v for k, v in os.environ.items() if k.startswith("RADSURVEY_ALARM_")}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(fields) + "\\n")
"""


def ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def reference_twa(samples: list[tuple[float, float]], t: float, window_s: float, max_gap_s: float) -> float | None:
    """Time-weighted mean of E over (t - window, t], each sample standing for the interval before it."""
    integral = covered = 0.0
    for (t_prev, _), (t_i, e_i) in pairwise(samples):
        if t_i > t:
            break
        lo, hi = max(t_prev, t_i - max_gap_s, t - window_s), t_i
        if hi > lo:
            integral += e_i * (hi - lo)
            covered += hi - lo
    return integral / covered if covered >= 0.25 * window_s else None


def start_daemon(tmp_path: Path, extra_config: str = "") -> tuple[subprocess.Popen[bytes], Path, Path]:
    """``radsurvey run`` on the ward config; (process, config file, journal)."""
    journal = tmp_path / "j.sqlite"
    script = tmp_path / "record.py"
    script.write_text(SCRIPT)
    cfg = tmp_path / "ward.toml"
    text = CONFIG.format(journal=journal, python=sys.executable, script=script, log=tmp_path / "command.log")
    cfg.write_text(text + extra_config)
    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    with open(tmp_path / "daemon.log", "wb") as err:
        proc = subprocess.Popen(
            [radsurvey, "--log-json", "run", "--config", str(cfg), "--json"], stdout=subprocess.DEVNULL, stderr=err
        )
    return proc, cfg, journal


def wait_for_the_twa_cycle(
    proc: subprocess.Popen[bytes], journal: Path, tmp_path: Path
) -> tuple[list[str], dict[str, str]]:
    """Wait until the twa rule has alarmed and cleared; (twa states seen, current state per rule)."""
    deadline = time.monotonic() + 60
    states: dict[str, str] = {}
    seen_twa: list[str] = []
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        if journal.exists():
            try:
                rows = store.history(journal)
            except Exception:  # the daemon may not have migrated the journal yet
                rows = []
            seen_twa = [r["state"] for r in rows if r["rule"] == "twa"]
            states = {r["rule"]: r["state"] for r in store.current(journal)} if rows else {}
            if seen_twa[-1:] == ["normal"] and "alarm" in seen_twa:
                break
        time.sleep(0.2)
    return seen_twa, states


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def test_exposure_over_a_ward_limit_warns_alarms_runs_the_command_and_latches(tmp_path: Path) -> None:
    log = tmp_path / "command.log"
    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    proc, _cfg, journal = start_daemon(tmp_path)
    try:
        seen_twa, states = wait_for_the_twa_cycle(proc, journal, tmp_path)
        assert seen_twa == ["warning", "alarm", "warning", "normal"], seen_twa
        assert states["instant"] == "alarm"  # latched: the exposure is over, the alarm is not
        out = subprocess.run(
            [
                radsurvey,
                "alarms",
                "ack",
                "ward5",
                "--rule",
                "instant",
                "--by",
                "nurse Aigerim",
                "--comment",
                "door shut",
                "--journal",
                str(journal),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("acknowledged instant on ward5 by nurse Aigerim")
        assert {r["rule"]: r["state"] for r in store.current(journal)}["instant"] == "normal"
        time.sleep(0.5)  # let the command for the last change run
    finally:
        stop(proc)
    assert proc.returncode == 0

    with jr.reader(journal) as conn:
        samples = [(ts(r[0]), r[1]) for r in conn.execute("SELECT ts, effective_uSv_h FROM samples ORDER BY seq")]
        events = [dict(r) for r in conn.execute("SELECT * FROM alarm_events ORDER BY seq")]
    twa = [e for e in events if e["rule"] == "twa"]
    assert [e["level"] for e in twa] == [1.3] * 4 and twa[0]["warning_level"] == pytest.approx(0.65)
    times = [t for t, _ in samples]
    for event, threshold in ((twa[0], 0.65), (twa[1], 1.3)):
        t = ts(event["ts"])
        assert t in times, "a rising transition happens at a sample"
        before = times[times.index(t) - 1]
        now_value = reference_twa(samples, t, 4, 1)
        prev_value = reference_twa(samples, before, 4, 1)
        assert now_value is not None and now_value >= threshold
        assert prev_value is None or prev_value < threshold
        assert event["value"] == pytest.approx(now_value, rel=1e-9)

    ack = events[-1]
    assert ack["event"] == "ack" and ack["rule"] == "instant" and ack["acknowledged_by"] == "nurse Aigerim"

    ran = [json.loads(line) for line in log.read_text().splitlines()]
    changes = [(e["rule"], e["state"]) for e in events if e["state"] != e["previous"]]
    assert [(r["RULE"], r["STATE"]) for r in ran] == changes
    first_twa = next(r for r in ran if r["RULE"] == "twa")
    assert first_twa["CHANNEL"] == "ward5" and first_twa["STATE"] == "warning" and first_twa["LEVEL"] == "1.3"
    assert float(first_twa["VALUE"]) == pytest.approx(twa[0]["value"], rel=1e-9)


def test_the_alarm_state_is_published_retained_over_mqtt(tmp_path: Path, mosquitto) -> None:  # type: ignore[no-untyped-def]
    from radsurvey.config.schema import DaemonConfig

    if "mqtt" not in DaemonConfig.model_fields:
        pytest.skip("the MQTT sink ([mqtt], sinks branch) is not merged here: alarm_events rows are asserted above")
    import asyncio

    import aiomqtt

    proc, _cfg, journal = start_daemon(tmp_path, f'\n[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n')
    try:
        seen_twa, _ = wait_for_the_twa_cycle(proc, journal, tmp_path)
        assert seen_twa == ["warning", "alarm", "warning", "normal"]
        time.sleep(1.0)  # let the sink catch up with the journal
    finally:
        assert stop(proc) == 0
    with jr.reader(journal) as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM alarm_events ORDER BY seq")]
    last = {r["rule"]: r for r in rows}

    async def retained() -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        async with aiomqtt.Client("127.0.0.1", mosquitto.port, timeout=10) as client:
            await client.subscribe("radsurvey/ward/channels/ward5/#", qos=1)
            try:
                async with asyncio.timeout(2):
                    async for message in client.messages:
                        assert message.retain
                        out[str(message.topic)] = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            except TimeoutError:
                pass
        return out

    kept = asyncio.run(retained())
    channel = kept["radsurvey/ward/channels/ward5/alarm"]
    assert rows[-1]["rule"] == "twa" and rows[-1]["state"] == "normal"  # the latest event ...
    assert channel["state"] == "alarm" and channel["rule"] == "instant"  # ... does not hide the latched alarm
    assert channel["states"] == {"twa": "normal", "instant": "alarm"} and channel["latched"] is True
    assert channel["seq"] == rows[-1]["seq"]
    for rule in ("twa", "instant"):
        payload = kept[f"radsurvey/ward/channels/ward5/alarms/{rule}"]
        assert payload["seq"] == last[rule]["seq"] and payload["state"] == last[rule]["state"]
