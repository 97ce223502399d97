"""Soak: ``radsurvey run`` as a Raspberry Pi runs it, for hours; RSS and disk writes sampled every minute.

    python benchmarks/soak.py [--minutes 120] [--warmup-minutes 15] [--intervals 5,10,30] [--out soak-results.json]

8 simulated meters at 1 Hz, the MQTT sink (real mosquitto, Home Assistant
discovery on) and the InfluxDB sink (real VictoriaMetrics, v2 API), an 8-hour
``twa`` rule on every channel and the web console, all at the shipped defaults
otherwise (``commit_interval_s``: 5 s since 0.3.1, 1 s before). A subscriber on
``radsurvey/#`` and a console client (``/api/overview`` once a minute) keep both ends in use. Every
minute: VmRSS of the daemon and ``write_bytes`` of ``/proc/PID/io``. The
figures of issue 24 are the RSS growth after the warm-up (goal <= 1 MB over 2 h)
and the bytes written an hour (goal <= 12 MB at the defaults). ``--intervals``
runs one such daemon per commit interval side by side (docs/raspberry-pi.md's
table over hours, checkpoints included).

Not part of the test run; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import Mosquitto, VictoriaMetrics  # noqa: E402 - benchmark helper, like the tests

RADSURVEY = str(Path(sys.executable).parent / "radsurvey")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(
    tmp: Path,
    mq: Mosquitto,
    vm: VictoriaMetrics,
    web_port: int,
    site: str = "soak",
    commit_interval_s: float | None = None,
    synchronous: str | None = None,
) -> Path:
    import tomli_w

    tmp.mkdir(parents=True, exist_ok=True)
    journal: dict = {"path": str(tmp / "journal.sqlite")}
    if commit_interval_s is not None:
        journal["commit_interval_s"] = commit_interval_s
    if synchronous is not None:
        journal["synchronous"] = synchronous
    data = {
        "site": {"id": site},
        "journal": journal,
        "meters": [
            {"id": f"m{i}", "driver": "simulated", "poll_interval_s": 1.0, "seed": i, "background_uGy_h": 0.2}
            for i in range(8)
        ],
        "channels": [
            {
                "id": f"c{i}",
                "meter": f"m{i}",
                "room_category": 1,
                "alarms": [{"kind": "twa", "id": "twa-8h", "window_s": 8 * 3600}],
            }
            for i in range(8)
        ],
        "mqtt": {"port": mq.port, "homeassistant": True},
        "influxdb": {"url": vm.url},
        "web": {"listen": f"127.0.0.1:{web_port}"},
    }
    path = tmp / "soak.toml"
    path.write_text(tomli_w.dumps(data))
    return path


def proc_sample(pid: int) -> tuple[int, int]:
    """(VmRSS kB, write_bytes) of ``pid``."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return rss, int(io["write_bytes"])


def subscriber(port: int, stop: threading.Event, counted: list[int]) -> None:
    """Counts every message under radsurvey/# (a dashboard's subscription) until ``stop``."""
    import paho.mqtt.client as paho

    client = paho.Client(paho.CallbackAPIVersion.VERSION2)
    client.on_connect = lambda c, *_: c.subscribe("radsurvey/#", qos=1)

    def on_message(*_: object) -> None:
        counted[0] += 1

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    stop.wait()
    client.loop_stop()
    client.disconnect()


def linear_slope(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def summary(samples: list[dict], warmup_minutes: float) -> dict:
    """RSS and write figures of one daemon's per-minute samples."""
    after = [s for s in samples if s["minute"] >= warmup_minutes]
    first, last = samples[0], samples[-1]
    hours = (last["minute"] - first["minute"]) / 60
    out: dict = {
        "minutes": round(last["minute"], 1),
        "rss_mb_start": first["rss_mb"],
        "rss_mb_end": last["rss_mb"],
        "rss_mb_max": max(s["rss_mb"] for s in samples),
        "write_mb_per_h": round((last["write_bytes"] - first["write_bytes"]) / 1e6 / hours, 1) if hours else None,
    }
    if len(after) >= 2:
        span_h = (after[-1]["minute"] - after[0]["minute"]) / 60
        slope = linear_slope([s["minute"] / 60 for s in after], [s["rss_mb"] for s in after])
        out.update(
            rss_growth_after_warmup_mb=round(after[-1]["rss_mb"] - after[0]["rss_mb"], 2),
            rss_range_after_warmup_mb=round(max(s["rss_mb"] for s in after) - min(s["rss_mb"] for s in after), 2),
            after_warmup_hours=round(span_h, 2),
            rss_slope_after_warmup_mb_per_h=round(slope, 3),
            rss_growth_over_2h_extrapolated_mb=round(2 * slope, 2),
            write_mb_per_h_after_warmup=round((after[-1]["write_bytes"] - after[0]["write_bytes"]) / 1e6 / span_h, 1)
            if span_h
            else None,
            # MB/h in each quarter hour after the warm-up: a checkpoint (every ~1 000 WAL pages) lands in some
            write_mb_per_h_by_quarter_hour=[
                round((b["write_bytes"] - a["write_bytes"]) / 1e6 / ((b["minute"] - a["minute"]) / 60), 1)
                for a, b in zip(after[::15], after[15::15], strict=False)
                if b["minute"] > a["minute"]
            ],
        )
    return out


def soak(
    minutes: float,
    warmup_minutes: float,
    intervals: list[float | None],
    synchronous: str | None = None,
    interval_s: float = 60.0,
) -> dict:
    """One daemon per commit interval (None: the default), side by side on one broker and one TSDB."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mq, vm = Mosquitto(tmp / "mq"), VictoriaMetrics(tmp / "vm")
        mq.start()
        vm.start()
        stop = threading.Event()
        counted = [0]
        sub = threading.Thread(target=subscriber, args=(mq.port, stop, counted), daemon=True)
        sub.start()
        daemons: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
        samples: dict[str, list[dict]] = {}
        console_errors = 0
        try:
            for i, commit_s in enumerate(intervals):
                label = "default" if commit_s is None else f"{commit_s:g}"
                web_port = free_port()
                site = f"soak{i}"
                cfg = config(tmp / f"d{i}", mq, vm, web_port, site, commit_interval_s=commit_s, synchronous=synchronous)
                proc = subprocess.Popen(
                    [RADSURVEY, "run", "--config", str(cfg), "--json"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                daemons[label] = (proc, web_port)
                samples[label] = []
            time.sleep(30)  # start-up (imports, connections, discovery) is not the steady state
            t0 = time.monotonic()
            end = t0 + minutes * 60
            next_t = t0
            while True:
                now = time.monotonic()
                for label, (proc, web_port) in daemons.items():
                    if proc.poll() is not None:
                        raise RuntimeError(
                            f"radsurvey run ({label}) exited with {proc.returncode} after {now - t0:.0f} s"
                        )
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{web_port}/api/overview", timeout=10).read()
                    except OSError:
                        console_errors += 1
                    rss_kb, written = proc_sample(proc.pid)
                    samples[label].append(
                        {"minute": round((now - t0) / 60, 2), "rss_mb": round(rss_kb / 1024, 2), "write_bytes": written}
                    )
                print(json.dumps({k: v[-1] for k, v in samples.items()}), file=sys.stderr, flush=True)
                if now >= end:
                    break
                next_t += interval_s
                time.sleep(max(0.0, min(next_t, end) - time.monotonic()))
        finally:
            for proc, _ in daemons.values():
                proc.terminate()
            for proc, _ in daemons.values():
                proc.wait(timeout=60)
            stop.set()
            sub.join(10)
            mq.stop()
            vm.stop()
    out: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "setup": "8 simulated meters at 1 Hz, mosquitto (HA discovery) + VictoriaMetrics (v2), 8 h twa per channel,"
        " web console; commit_interval_s as labelled (default: the shipped one); one daemon per interval, side by side",
        "warmup_minutes": warmup_minutes,
        "synchronous": synchronous or "default (normal)",
        "mqtt_messages_seen": counted[0],
        "console_errors": console_errors,
        "minutes_from": "30 s after the daemons were started",
    }
    if len(samples) == 1:  # the single-daemon layout of earlier results
        (only,) = samples.values()
        out.update(summary(only, warmup_minutes), samples=only)
    else:
        out["by_commit_interval_s"] = {k: {**summary(v, warmup_minutes), "samples": v} for k, v in samples.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0, help="how long to run (default 120)")
    ap.add_argument("--warmup-minutes", type=float, default=15.0, help="growth is counted after this (default 15)")
    ap.add_argument(
        "--intervals",
        default="",
        help="commit intervals (s) to run side by side, e.g. 5,10,30 (default: one daemon at the shipped default)",
    )
    ap.add_argument("--synchronous", choices=["normal", "full"], help="[journal] synchronous (default: the shipped)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    intervals: list[float | None] = [float(x) for x in args.intervals.split(",") if x] or [None]
    result = soak(args.minutes, min(args.warmup_minutes, args.minutes / 2), intervals, args.synchronous)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
