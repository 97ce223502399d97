"""Issue 21 §2 as a user meets it: a corrupted journal copy, a read-only journal, an unreadable profiles folder."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from radsurvey.daemon.journal import recovery

from .conftest import radsurvey_bin

CONFIG = """
[site]
id = "t"
[journal]
path = "{journal}"
commit_interval_s = 0.1
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.005
seed = 1
[[channels]]
id = "desk"
meter = "sim"
room_category = 1
[[channels.alarms]]
kind = "instant"
level_uSv_h = 1000
"""


def config(tmp_path: Path) -> tuple[Path, Path]:
    journal = tmp_path / "j.sqlite"
    cfg = tmp_path / "radsurvey.toml"
    cfg.write_text(CONFIG.format(journal=journal))
    return cfg, journal


def config_checked_in_background(tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    """:func:`config` with the full check after start (``full_check_at_open_max_mb = 0``) and ``extra`` appended.

    An equipment rule rather than `instant`, whose window the alarms restore from the newest samples at start
    (reading the damaged page first): only the background check reads the page damaged here."""
    cfg, journal = config(tmp_path)
    text = cfg.read_text().replace("\n[[meters]]", "\nfull_check_at_open_max_mb = 0\n[[meters]]", 1)
    text = text.replace('kind = "instant"\nlevel_uSv_h = 1000', 'kind = "equipment"\ncheck = "disconnected"')
    assert 'check = "disconnected"' in text
    cfg.write_text(text + extra)
    return cfg, journal


def flip_256_bytes_in_a_page_of_readings(path: Path) -> None:
    """Flip 256 bytes in the middle of the file's pages that hold readings.

    The middle of the whole file may be an empty table's page, whose unused bytes no check can miss; a leaf
    page of ``reading_rows`` below its root always holds readings, so the damage is real and the rest of the
    table stays reachable for the salvage."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = [
            r[0]
            for r in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = 'reading_rows' AND pagetype = 'leaf' AND path != '/'"
                " ORDER BY path"
            )
        ]
    finally:
        conn.close()
    # In key order, and never among the last four: a commit appends at the right edge, and SQLite's balancing
    # there reads the last leaf's siblings (a damaged one would be found by the commit, not by a check).
    assert len(pages) >= 6, f"too few pages of readings ({len(pages)}) to damage one"
    offset = (pages[(len(pages) - 4) // 2] - 1) * page_size
    with path.open("r+b") as fp:
        fp.seek(offset)
        original = fp.read(256)
        fp.seek(offset)
        fp.write(bytes(b ^ 0xFF for b in original))


def test_a_corrupted_journal_is_one_line_acquisition_goes_on_and_recover_salvages_it(run_cli, tmp_path: Path) -> None:
    cfg, journal = config(tmp_path)
    first = run_cli("run", "--config", str(cfg), "--duration", "3", "--json")
    assert first.returncode == 0, first.stderr
    before = jr.stats(journal)
    last_seq = max(t["last_seq"] or 0 for t in before["tables"].values())
    flip_256_bytes_in_a_page_of_readings(journal)
    damaged_bytes = journal.read_bytes()

    stats = run_cli("journal", "stats", "--journal", str(journal))
    assert stats.returncode == 2 and len(stats.stderr.strip().splitlines()) == 1
    assert "journal is damaged" in stats.stderr and f"radsurvey journal recover --journal {journal}" in stats.stderr

    second = run_cli("run", "--config", str(cfg), "--duration", "3", "--json")
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr
    logs = [json.loads(line) for line in second.stderr.splitlines() if line.startswith("{")]
    [damaged] = [e for e in logs if e["level"] == "error"]
    assert "journal is damaged" in damaged["event"] and "journal recover" in damaged["event"]
    assert any(e.get("rule") == "journal_damaged" and e.get("state") == "fault" for e in logs)
    fresh = jr.stats(journal)
    assert fresh["tables"]["readings"]["rows"] > 10  # acquisition went on, in a fresh journal...
    assert fresh["tables"]["readings"]["first_seq"] > last_seq  # ... whose seqs continue above the old ones
    [kept] = recovery.waiting(journal)
    assert kept.read_bytes() == damaged_bytes

    recovered = run_cli("journal", "recover", "--journal", str(journal))
    assert recovered.returncode == 0, recovered.stderr
    assert f"into {kept}.recovered" in recovered.stdout and f"damaged file kept as {kept}.handled" in recovered.stdout
    old = jr.stats(Path(f"{kept}.recovered"))
    assert 0 < old["tables"]["readings"]["rows"] <= before["tables"]["readings"]["rows"]
    assert recovery.waiting(journal) == []
    again = run_cli("journal", "recover", "--journal", str(journal))
    assert again.returncode == 0 and "nothing to recover" in again.stdout


def as_nobody(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", radsurvey_bin(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to act as another user")
def test_a_read_only_journal_and_an_unreadable_profiles_folder_are_one_line_each(run_cli) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as top:  # pytest's own tmp folder is closed to other users
        Path(top).chmod(0o755)
        one_line_each(run_cli, Path(top))


def one_line_each(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / ".config" / "radsurvey" / "profiles").mkdir(parents=True)
    home.chmod(0o700)  # root's: the other user may not look inside
    work = tmp_path / "work"
    work.mkdir()
    cfg, journal = config(work)
    assert run_cli("run", "--config", str(cfg), "--duration", "1").returncode == 0
    work.chmod(0o755)
    for p in work.iterdir():
        p.chmod(0o644)  # the journal is root's: read-only for the other user
    env = {"XDG_CONFIG_HOME": str(home / ".config")}
    run = as_nobody("run", "--config", str(cfg), "--duration", "1", cwd=work, env=env)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert [line for line in run.stderr.splitlines() if "error" in line] == [
        f"radsurvey: error: {journal}: cannot open journal: attempt to write a readonly database (the daemon writes"
        " its journal: check the owner and mode of the file and of its folder)"
    ]
    stats = as_nobody("journal", "stats", "--journal", str(journal), "--json", cwd=work, env=env)
    assert stats.returncode == 0 and json.loads(stats.stdout)["tables"]["readings"]["rows"] > 0
    profiles = as_nobody("profiles", "list", cwd=work, env=env)
    assert profiles.returncode == 0 and "Traceback" not in profiles.stderr
    assert "cannot read this profiles folder (Permission denied); its profiles are not used" in profiles.stderr


def test_damage_found_by_the_background_check_sets_the_journal_aside_and_acquisition_goes_on(
    run_cli, tmp_path: Path
) -> None:
    """Issue 24 §1: a journal above ``full_check_at_open_max_mb`` opens with a bounded check; the full check
    runs after start and its verdict is acted on in the running daemon, as if found at open."""
    import signal
    import time

    cfg, journal = config_checked_in_background(tmp_path)
    first = run_cli("run", "--config", str(cfg), "--duration", "3", "--json")
    assert first.returncode == 0, first.stderr
    before = jr.stats(journal)
    last_seq = max(t["last_seq"] or 0 for t in before["tables"].values())
    flip_256_bytes_in_a_page_of_readings(journal)  # a middle leaf: the bounded check at open does not read it

    log = tmp_path / "second.log"
    with log.open("w") as err_file:
        second = subprocess.Popen(
            [radsurvey_bin(), "run", "--config", str(cfg), "--json"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
        )
    try:
        deadline = time.monotonic() + 60  # a bound, not a timing: the loop ends once the fresh journal acquires
        fresh_rows = 0
        while time.monotonic() < deadline and fresh_rows <= 10:
            time.sleep(0.2)
            if recovery.waiting(journal) and journal.exists():
                try:
                    fresh_rows = jr.stats(journal)["tables"]["readings"]["rows"]
                except Exception:  # the fresh journal is being made
                    fresh_rows = 0
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    finally:
        if second.poll() is None:
            second.kill()
    stderr = log.read_text()
    assert "Traceback" not in stderr
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    [damaged] = [e for e in logs if e["level"] == "error"]  # the one line, as at open
    assert damaged["event"].startswith("journal is damaged (SQLite quick_check:")
    assert "kept as j.sqlite.damaged-" in damaged["event"] and "acquiring into a fresh journal" in damaged["event"]
    assert f"radsurvey journal recover --journal {journal}" in damaged["event"]
    assert any(e.get("rule") == "journal_damaged" and e.get("state") == "fault" for e in logs)
    assert [e["event"] for e in logs].count("daemon starting") == 2  # the same process went on
    [kept] = recovery.waiting(journal)
    fresh = jr.stats(journal)
    assert fresh["tables"]["readings"]["rows"] > 10
    assert fresh["tables"]["readings"]["first_seq"] > last_seq

    checked = run_cli("journal", "check", "--journal", str(kept))
    assert checked.returncode == 2 and len(checked.stderr.strip().splitlines()) == 1
    assert "journal is damaged (SQLite quick_check:" in checked.stderr and "journal recover" in checked.stderr
    sound = run_cli("journal", "check", "--journal", str(journal))
    assert sound.returncode == 0 and sound.stdout.startswith(f"{journal}: passes SQLite's quick_check")

    # What the run acquired before the damage was found is in the kept copy (salvaged by seq), or, when the
    # damaged file refused the commit, in the fresh journal under its seq: nothing above the damage is lost.
    recovered = run_cli("journal", "recover", "--journal", str(journal))
    assert recovered.returncode == 0, recovered.stderr
    old, new = all_seqs(Path(f"{kept}.recovered")), all_seqs(journal)
    assert old and new and max(old) < min(new)
    assert set(range(last_seq + 1, max(new) + 1)) <= old | new


def all_seqs(path: Path) -> set[int]:
    with jr.reader(path) as conn:
        return {
            int(r[0])
            for table in ("readings", "samples", "meter_events", "alarm_events")
            for r in conn.execute(f"SELECT seq FROM {table}")
        }


def test_after_a_journal_swap_the_mqtt_sink_publishes_from_the_fresh_journal(
    run_cli, tmp_path: Path, mosquitto
) -> None:
    """A journal set aside in the running daemon (issue 24 §1) with a sink configured: the next daemon's sink
    reads the fresh journal and publishes what it acquires, under seqs above the damaged journal's."""
    import signal
    import threading
    import time

    import paho.mqtt.client as paho

    cfg, journal = config_checked_in_background(tmp_path, f'\n[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\n')
    first = run_cli("run", "--config", str(cfg), "--duration", "3", "--json")
    assert first.returncode == 0, first.stderr
    last_seq = max(t["last_seq"] or 0 for t in jr.stats(journal)["tables"].values())
    flip_256_bytes_in_a_page_of_readings(journal)

    seen: list[int] = []
    subscribed = threading.Event()
    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.on_subscribe = lambda *_: subscribed.set()
    client.on_message = lambda _c, _u, msg: seen.append(json.loads(msg.payload)["seq"])
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe("radsurvey/t/channels/desk/sample", qos=1)
    client.loop_start()
    assert subscribed.wait(10)
    second = subprocess.Popen(
        [radsurvey_bin(), "run", "--config", str(cfg), "--json"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60  # a bound: the loop ends once the fresh journal's samples arrive
        fresh_first = None
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if fresh_first is None and recovery.waiting(journal) and journal.exists():
                try:
                    fresh_first = jr.stats(journal)["tables"]["samples"]["first_seq"]
                except Exception:  # the fresh journal is being made
                    fresh_first = None
            if fresh_first is not None and sum(s >= fresh_first for s in list(seen)) > 10:
                break
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 0, stderr[-3000:]
    finally:
        if second.poll() is None:
            second.kill()
        client.loop_stop()
        client.disconnect()
    assert "Traceback" not in stderr
    assert fresh_first is not None and fresh_first > last_seq, "no fresh journal was made"
    fresh = [s for s in seen if s >= fresh_first]
    assert len(fresh) > 10, f"the sink published {len(fresh)} samples of the fresh journal"
    in_fresh = all_seqs(journal)
    assert set(fresh) <= in_fresh  # published only what the fresh journal holds (committed first)
    assert fresh == sorted(fresh)  # in seq order
