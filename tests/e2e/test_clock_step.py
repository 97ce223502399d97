"""Issue 21 §2: a one-hour step back of the wall clock, under libfaketime, clears no alarm and is recorded.

The daemon runs with libfaketime preloaded (Debian ``faketime``/``libfaketime``), the monotonic clock left
real; its meter's port does not exist, so the ``disconnected`` rule goes to fault after 1 s. Then the wall
clock steps back an hour. Before issue 21 the rule's interval went negative and the fault cleared.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from radsurvey.daemon.journal import queries

from .conftest import radsurvey_bin

pytestmark = pytest.mark.e2e

LIBFAKETIME = next(
    (p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
                 "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1") if Path(p).exists()),
    None,
)  # fmt: skip

CONFIG = """
[site]
id = "t"
[journal]
path = "{journal}"
commit_interval_s = 0.2
[[meters]]
id = "m"
driver = "ascii"
port = "/dev/radsurvey-no-such-port"
profile = "mightyohm"
[[channels]]
id = "desk"
meter = "m"
room_category = 1
[[channels.alarms]]
kind = "equipment"
check = "disconnected"
after_s = 1
[alarms]
tick_interval_s = 0.2
"""


def read_until(lines: list[dict], wanted, timeout_s: float) -> None:  # type: ignore[no-untyped-def]
    """Wait until a JSON log line the reader thread collected satisfies ``wanted``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(wanted(e) for e in list(lines)):
            return
        time.sleep(0.1)
    raise AssertionError(f"not seen in {timeout_s} s: {lines[-5:]}")


@pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime is not installed (Debian packages faketime, libfaketime)")
def test_a_clock_step_back_of_an_hour_keeps_the_fault_and_is_recorded(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    config = tmp_path / "radsurvey.toml"
    config.write_text(CONFIG.format(journal=journal))
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    env = {
        **os.environ,
        "LD_PRELOAD": str(LIBFAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(offset),
        "FAKETIME_CACHE_DURATION": "1",  # the file is read again at most every second
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",  # intervals come from a clock that does not step
    }
    proc = subprocess.Popen(
        [radsurvey_bin(), "run", "--config", str(config), "--duration", "10", "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines: list[dict] = []

    def collect() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{"):
                lines.append(json.loads(line))

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        read_until(lines, lambda e: e.get("rule") == "disconnected" and e.get("state") == "fault", 60)
        offset.write_text("-3600s\n")
        read_until(lines, lambda e: e.get("event", "").startswith("system clock stepped"), 30)
        assert proc.wait(60) == 0
        reader.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    [step_line] = [e for e in lines if e.get("event", "").startswith("system clock stepped")]
    assert abs(step_line["step_s"] + 3600) < 5
    states = [e["state"] for e in lines if e.get("event") == "alarm state" and e.get("rule") == "disconnected"]
    assert states == ["fault"]  # the step back cleared nothing
    [recorded] = queries.stats(journal)["clock_steps"]
    assert abs(recorded["step_s"] + 3600) < 5
