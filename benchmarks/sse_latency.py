"""How soon a sample reaches an open console page: reading time -> Server-Sent Event received.

    .venv/bin/python benchmarks/sse_latency.py                 # 300 samples, 3 runs
    .venv/bin/python benchmarks/sse_latency.py --samples 100 --runs 1

``radsurvey run`` on one simulated meter at 5 Hz with ``[web]``; a client reads ``/api/events`` and, for
each ``channel`` event carrying a new sample, takes the time it arrived minus the sample's time (its
reading's, so the figure covers the pipeline, the journal append and the push). The anchor in the same
run is the meter's own poll interval: a delay below it means no sample waits for the next one. Target
(docs/architecture.md, performance): a sample on an open page within 1 s. Loopback only; bounded by
``--samples`` and a 120 s deadline per run.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path

POLL_S = 0.2
CONFIG = """
[site]
id = "bench"
[journal]
path = "{journal}"
[[meters]]
id = "m1"
driver = "simulated"
poll_interval_s = {poll}
[[channels]]
id = "c1"
meter = "m1"
room_category = 3
[web]
listen = "127.0.0.1:{port}"
users_file = "{users}"
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def one_run(samples: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        cfg = Path(tmp) / "c.toml"
        cfg.write_text(CONFIG.format(journal=Path(tmp) / "j.sqlite", poll=POLL_S, port=port, users=Path(tmp) / "users"))
        exe = Path(sys.executable).with_name("radsurvey")
        proc = subprocess.Popen(
            [str(exe), "run", "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 120
            stream = None
            while stream is None and time.monotonic() < deadline:
                try:
                    stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events", timeout=10)
                except OSError:
                    time.sleep(0.2)
            if stream is None:
                raise SystemExit("the console did not answer within 120 s")
            delays: list[float] = []
            seen: set[str] = set()
            event = ""
            while len(delays) < samples and time.monotonic() < deadline:
                line = stream.readline().decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "channel":
                    row = json.loads(line[6:])
                    ts = row.get("last_ts")
                    if row.get("status") == "live" and ts and ts not in seen:
                        seen.add(ts)
                        sample_t = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
                        delays.append(time.time() - sample_t)
            return delays[5:]  # the first few include the console's start
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    p99s, medians = [], []
    for _ in range(args.runs):
        d = sorted(one_run(args.samples))
        medians.append(statistics.median(d))
        p99s.append(d[min(len(d) - 1, int(0.99 * len(d)))])
    result = {
        "sse_delay_median_s": {"min": min(medians), "median": statistics.median(medians)},
        "sse_delay_p99_s": {"min": min(p99s), "median": statistics.median(p99s)},
        "anchor_poll_interval_s": POLL_S,
        "p99_over_poll_interval": statistics.median(p99s) / POLL_S,
        "target_s": 1.0,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
