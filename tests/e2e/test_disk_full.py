"""Disk full under a running daemon (issue 12 §5), on a real small tmpfs.

The journal lives on a 2 MB tmpfs that the test fills up while the daemon runs:
the failing commit raises ``journal_write`` at once (the local command sees it),
SIGTERM stops the daemon within 5 s, and every seq the daemon gave out is either
in the journal or in the spill file (or, without a spill directory, counted in
the log and in the note the next run reads): nothing is lost silently. The next
run records that note in its journal (table ``uncommitted``) and imports the
spill file back under the rows' own seqs.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from radsurvey.daemon import journal as jr
from tests.e2e.conftest import radsurvey_bin

pytestmark = pytest.mark.e2e

RECORD = """
import json, os, sys
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({k: v for k, v in os.environ.items() if k.startswith("RADSURVEY_ALARM_")}) + "\\n")
"""

CONFIG = """
[site]
id = "full"
[journal]
path = "{journal}"
commit_interval_s = 0.05
{spill}
[[meters]]
id = "sim"
driver = "simulated"
poll_interval_s = 0.01
[[channels]]
id = "desk"
meter = "sim"
room_category = 1
averaging_window_s = 0.05
[[channels.alarms]]
kind = "instant"
level_uSv_h = 1000000
[alarms]
command = {{ argv = ["{python}", "{script}", "{log}"] }}
"""


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (the test fills a real, small filesystem)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> Path:
    """Write one file until the filesystem has not one byte left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as err:
                    assert err.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def log_lines(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def wait_for(condition, timeout_s: float, what: str, proc: subprocess.Popen, log: Path) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not condition():
        assert proc.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() - start < timeout_s, f"{what}: not within {timeout_s} s\n" + log.read_text()[-3000:]
        time.sleep(0.05)
    return time.monotonic() - start


def journal_seqs(path: Path) -> set[int]:
    seqs: set[int] = set()
    with jr.reader(path) as conn:
        for table in jr.SEQ_TABLES:
            seqs |= {r[0] for r in conn.execute(f"SELECT seq FROM {table}")}
    return seqs


@pytest.mark.parametrize("spill", [True, False], ids=["spill-dir", "no-spill-dir"])
def test_disk_full_alarms_at_once_stops_within_5_s_and_loses_nothing_silently(
    tmp_path: Path, small_disk: Path, spill: bool
) -> None:
    journal = small_disk / "j.sqlite"
    spill_dir = tmp_path / "spill"
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    commands = tmp_path / "commands.log"
    commands.touch()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        CONFIG.format(
            journal=journal,
            spill=f'spill_dir = "{spill_dir}"' if spill else "",
            python=sys.executable,
            script=script,
            log=commands,
        )
    )
    log = tmp_path / "daemon.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            [radsurvey_bin(), "run", "--config", str(cfg), "--json", "--log-json"],
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_for(lambda: "alarm service running" in log.read_text(), 30, "start", proc, log)
        time.sleep(0.5)
        filler = fill(small_disk)
        failed = lambda: any(e.get("event") == "journal commit failed; will retry" for e in log_lines(log))  # noqa: E731
        wait_for(failed, 20, "a failing commit", proc, log)
        raised = lambda: any(  # noqa: E731
            json.loads(line).get("RADSURVEY_ALARM_RULE") == "journal_write"
            and json.loads(line).get("RADSURVEY_ALARM_STATE") == "fault"
            for line in commands.read_text().splitlines()
        )
        # "At once": the local command runs for journal_write within a couple of seconds of the failure.
        wait_for(raised, 3, "journal_write fault reaching the local command", proc, log)
        time.sleep(1.0)  # rows keep arriving while the disk is full
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        stop_s = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"SIGTERM to exit on a full disk: {stop_s:.2f} s")
    assert stop_s < 5.0, f"SIGTERM took {stop_s:.2f} s\n" + log.read_text()[-3000:]
    assert rc == 0, log.read_text()[-3000:]
    events = log_lines(log)
    filler.unlink()  # room again, to read the journal back (its -shm and -wal live there)
    committed = journal_seqs(journal)
    if spill:
        (line,) = [e for e in events if e.get("event") == "journal rows not committed; spilled"]
        (spill_file,) = spill_dir.glob("j.sqlite.spill-run*.jsonl")
        assert line["file"] == str(spill_file)
        spilled = [json.loads(x) for x in spill_file.read_text().splitlines()]
        spilled_seqs = {x["row"]["seq"] for x in spilled}
        assert len(spilled_seqs) == len(spilled) == line["rows"] > 0
        assert (min(spilled_seqs), max(spilled_seqs)) == (line["first_seq"], line["last_seq"])
        # The journal_write fault itself is in the spill (the journal could not take it).
        assert any(x["table"] == "alarm_events" and x["row"]["rule"] == "journal_write" for x in spilled)
        assert not committed & spilled_seqs
        everything = committed | spilled_seqs
        assert everything == set(range(1, max(everything) + 1))  # not one seq missing
        raw = [x["row"]["raw"] for x in spilled if x["table"] == "readings"]
        assert raw and all(set(r) == {"base64"} for r in raw)
    else:
        (line,) = [e for e in events if e.get("event") == "journal rows not committed and not spilled: they are lost"]
        assert line["rows"] > 0 and line["spill_error"] == "no [journal] spill_dir configured"
        assert set(range(line["first_seq"], line["last_seq"] + 1)).isdisjoint(committed)
        assert max(committed) < line["first_seq"]
    # Written over room reserved at start: a note fits even on the full disk.
    notes = [x for x in (small_disk / "j.sqlite.uncommitted").read_text().splitlines() if x.strip()]
    note = json.loads(notes[-1])
    assert (note["first_seq"], note["last_seq"], note["rows"]) == (line["first_seq"], line["last_seq"], line["rows"])
    status = subprocess.run(
        [radsurvey_bin(), "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    expected = f"rows of run {note['run']} (seq {note['first_seq']}-{note['last_seq']}) were not committed"
    assert expected in status.stdout and ("spilled to" if spill else "not spilled: lost") in status.stdout
    # The next run says so, and never gives those seqs again.
    again = subprocess.run(
        [radsurvey_bin(), "--log-json", "run", "--config", str(cfg), "--duration", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    told = [json.loads(x) for x in again.stderr.splitlines() if "earlier run are not in the journal" in x]
    assert told and told[0]["last_seq"] == line["last_seq"]
    now = journal_seqs(journal)
    lost = set(range(line["first_seq"], line["last_seq"] + 1))
    assert min(now - committed - lost) > line["last_seq"]
    # The note is in the next run's journal itself (table uncommitted), and only then left the side file.
    (gap,) = jr.stats(journal)["uncommitted"]
    assert (gap["run"], gap["rows"], gap["first_seq"], gap["last_seq"]) == (
        note["run"],
        line["rows"],
        line["first_seq"],
        line["last_seq"],
    )
    assert not (small_disk / "j.sqlite.uncommitted").read_text().strip()
    if spill:
        # The spilled rows came back under their own seqs: not one seq missing, the file set aside.
        assert spilled_seqs <= now and now == set(range(1, max(now) + 1))
        assert gap["imported_rows"] == line["rows"] and gap["imported_at"] and gap["not_in_journal"] == 0
        assert not spill_file.exists() and spill_file.with_name(spill_file.name + ".imported").exists()
        with jr.reader(journal) as conn:
            for x in spilled:
                table, row = x["table"], x["row"]
                got = dict(conn.execute(f"SELECT * FROM {table} WHERE seq = ?", (row["seq"],)).fetchone())
                assert got["ts"] == row["ts"]
        # The imported journal_write fault was cleared by the run that could write again (not shown as current).
        from radsurvey.daemon.alarms import store

        (jw,) = [a for a in store.current(journal) if a["channel"] == "desk" and a["rule"] == "journal_write"]
        assert jw["state"] == "normal"
    else:
        assert gap["spill_file"] is None and gap["imported_at"] is None and gap["not_in_journal"] == line["rows"]
        assert lost.isdisjoint(now)
    status = subprocess.run(
        [radsurvey_bin(), "status", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert expected in status.stdout, status.stdout
    fate = "imported back at" if spill else "not spilled: lost"
    assert f"{fate}" in status.stdout and "recorded in the journal" in status.stdout, status.stdout
