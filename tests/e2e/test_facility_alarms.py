"""The facility record and the running daemon (issue 19): holds and overdue rooms alarm on the room's monitor,
retained on a real mosquitto; an incident opened from a latched alarm holds the room."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from tests.facility_support import FACILITY_TOML, survey, write_survey

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date()

CONFIG = """
[site]
id = "clinic"
[journal]
path = "j.sqlite"
commit_interval_s = 0.05
[facility]
poll_interval_s = 0.2
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.1
background_uGy_h = 0.1
[[channels]]
id = "desk"
meter = "sim"
room_category = 1
averaging_window_s = 0.1
[mqtt]
host = "127.0.0.1"
port = {port}
"""


ALARM_TOPICS = ("radsurvey/clinic/channels/desk/alarm", "radsurvey/clinic/channels/desk/alarms/+")


def facility_events(journal: Path) -> list[tuple[str, str]]:
    if not journal.exists():
        return []
    try:
        with jr.reader(journal) as conn:
            rows = conn.execute(
                "SELECT rule, state FROM alarm_events WHERE channel = 'desk' AND rule LIKE 'facility_%' ORDER BY seq"
            ).fetchall()
    except Exception:  # the daemon may not have created the journal's tables yet
        return []
    return [(r[0], r[1]) for r in rows]


def wait_until(proc: subprocess.Popen[bytes], journal: Path, tmp_path: Path, wanted: list[tuple[str, str]]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        if all(w in facility_events(journal) for w in wanted):
            return
        time.sleep(0.1)
    raise AssertionError(f"events {facility_events(journal)}, wanted {wanted}")


def retained(port: int, *topics: str) -> dict[str, dict[str, object]]:
    """The retained messages a new subscriber gets on ``topics``."""
    import aiomqtt

    async def collect() -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        async with aiomqtt.Client("127.0.0.1", port, timeout=10) as client:
            for topic in topics:
                await client.subscribe(topic, qos=1)
            try:
                async with asyncio.timeout(1.5):
                    async for message in client.messages:
                        if message.retain:  # live ones may arrive meanwhile
                            out[str(message.topic)] = json.loads(bytes(message.payload))  # type: ignore[arg-type]
            except TimeoutError:
                pass
        return out

    return asyncio.run(collect())


def test_a_room_on_hold_alarms_on_its_monitor_retained_on_mqtt_until_a_complying_survey(
    tmp_path: Path,
    run_cli,
    mosquitto,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "facility.toml").write_text(FACILITY_TOML, encoding="utf-8")
    (tmp_path / "cfg.toml").write_text(CONFIG.format(port=mosquitto.port), encoding="utf-8")
    assert run_cli("facility", "import", "facility.toml", "--config", "cfg.toml").returncode == 0
    assert (tmp_path / "facility.sqlite").exists()  # beside the journal
    inspect = ("facility", "equipment", "inspect", "apron-1", "--date", TODAY.isoformat(), "--result", "pass")
    assert run_cli(*inspect, "--config", "cfg.toml").returncode == 0  # else the apron is overdue (001:Art 12)
    bad = write_survey(tmp_path / "bad.json", survey(TODAY - timedelta(days=4), complies=False, survey_id="S-1"))
    out = run_cli("facility", "import-survey", str(bad), "--room", "X-ray room 204", "--config", "cfg.toml")
    assert out.returncode == 0, out.stderr

    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    with open(tmp_path / "daemon.log", "wb") as err:
        proc = subprocess.Popen(
            [radsurvey, "--log-json", "run", "--config", "cfg.toml", "--json"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    journal = tmp_path / "j.sqlite"
    try:
        wait_until(proc, journal, tmp_path, [("facility_hold", "fault"), ("facility_due", "fault")])
        time.sleep(0.5)  # the sink publishes what is committed
        kept = retained(mosquitto.port, *ALARM_TOPICS)
        assert kept["radsurvey/clinic/channels/desk/alarms/facility_hold"]["state"] == "fault"
        assert kept["radsurvey/clinic/channels/desk/alarms/facility_hold"]["kind"] == "equipment"
        assert kept["radsurvey/clinic/channels/desk/alarm"]["state"] == "fault"

        good = write_survey(tmp_path / "good.json", survey(TODAY, complies=True, survey_id="S-2"))
        out = run_cli("facility", "import-survey", str(good), "--room", "X-ray room 204", "--config", "cfg.toml")
        assert out.returncode == 0, out.stderr
        wait_until(proc, journal, tmp_path, [("facility_hold", "normal"), ("facility_due", "normal")])
        time.sleep(0.5)
        kept = retained(mosquitto.port, *ALARM_TOPICS)
        assert kept["radsurvey/clinic/channels/desk/alarms/facility_hold"]["state"] == "normal"
        assert kept["radsurvey/clinic/channels/desk/alarms/facility_due"]["state"] == "normal"
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


LATCHING = """
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
[[channels]]
id = "desk"
meter = "sim"
room_category = 7
averaging_window_s = 0.1
[[channels.alarms]]
kind = "instant"
level_uSv_h = 1
window_s = 0.2
latching = true
"""


def test_an_incident_opened_from_a_latched_alarm_keeps_its_samples_and_holds_the_room(
    tmp_path: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "cfg.toml").write_text(LATCHING, encoding="utf-8")
    out = run_cli("run", "--config", "cfg.toml", "--duration", "1.5", "--json")
    assert out.returncode == 0, out.stderr
    (tmp_path / "facility.toml").write_text(FACILITY_TOML, encoding="utf-8")
    assert run_cli("facility", "import", "facility.toml", "--config", "cfg.toml").returncode == 0
    assert run_cli("facility", "role", "grant", "anna", "hpo", "--by", "anna", "--config", "cfg.toml").returncode == 0
    lift = run_cli(
        "facility", "hold", "lift", "X-ray room 204", "--reason", "accepted", "--by", "anna", "--config", "cfg.toml"
    )
    assert lift.returncode == 0, lift.stderr

    out = run_cli("facility", "incident", "open", "--channel", "desk", "--by", "anna", "--config", "cfg.toml")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "incident 1 opened; its room is on hold"
    rooms = {
        r["room"]: r for r in json.loads(run_cli("facility", "due", "--format", "json", "--config", "cfg.toml").stdout)
    }
    assert rooms["X-ray room 204"]["hold"]["reason"] == "incident 1 (alarm instant on desk)"

    out = run_cli(
        "facility",
        "incident",
        "update",
        "1",
        "--dose",
        "T. Nurlanov=0.40",
        "--notified",
        "regulator@2026-12-07T10:30",
        "--stop-work",
        "room closed",
        "--config",
        "cfg.toml",
    )
    assert out.returncode == 0, out.stderr
    incident = json.loads(run_cli("facility", "incident", "list", "--format", "json", "--config", "cfg.toml").stdout)[0]
    assert incident["alarm"]["rule"] == "instant" and incident["alarm"]["state"] == "alarm"
    assert len(incident["samples"]) > 3 and all(s["effective_uSv_h"] > 1 for s in incident["samples"][-2:])
    assert incident["doses"] == [{"person": "T. Nurlanov", "estimated_dose_mSv": "0.40"}]
    assert incident["stop_work"]["decision"] == "room closed"
    assert incident["notified"] == [{"who": "regulator", "at": "2026-12-07T10:30:00"}]

    bad = run_cli(
        "facility", "incident", "open", "--channel", "nowhere", "--room", "X-ray room 204", "--config", "cfg.toml"
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "radsurvey: error: j.sqlite: channel: no latched alarm on channel 'nowhere' in the journal"
    ]
