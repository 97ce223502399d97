"""Fleet benchmark: N sites, each a real ``radsurvey run`` (simulated meter), into one broker and one VictoriaMetrics.

    .venv/bin/python benchmarks/fleet.py [--sites 50] [--window 60] [--repeat 3] [--out benchmarks/fleet-results.json]

Each site is one daemon process as a room's Pi runs it (one meter at 1 Hz, one
channel with a twa rule, the shipped default journal and sink settings), all
publishing to one mosquitto and writing to one VictoriaMetrics on loopback.
After every site has published its first sample, it measures over ``--window``
seconds:

* broker: messages/s published by the sites (one subscriber on ``radsurvey/#``
  counts every message; mosquitto's ``$SYS`` received counter is reported too);
* TSDB: line-protocol points/s (readings and samples stored in the window,
  counted back by MetricsQL) and VictoriaMetrics rows/s (one per field and
  point: ``vm_rows_inserted_total``);
* lag: MQTT delivery (subscriber's receive time - the sample's ``ts``) of every
  sample, and the age of each site's newest sample at the subscriber and in
  VictoriaMetrics, sampled every second / every 5 s (p50, p99, max);
* per daemon: RSS (max over the window) and CPU (% of one core); the same for
  mosquitto and VictoriaMetrics;
* the arithmetic for 1 000 sites from the per-site rates measured.

Not part of the test run; benchmarks/README.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiomqtt  # noqa: E402

from tests.servers import Mosquitto, VictoriaMetrics  # noqa: E402 - benchmark helper, like the tests

RADSURVEY = str(Path(sys.executable).parent / "radsurvey")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def site_config(site: str, index: int, work: Path, mqtt_port: int, vm_url: str) -> str:
    return f"""
[site]
id = "{site}"

[journal]
path = "{work / "journal.sqlite"}"

[[meters]]
id = "m1"
driver = "simulated"
poll_interval_s = 1.0
seed = {index}
background_uGy_h = 0.12
beam_uGy_h = 3.0
beam_period_s = 60
beam_on_s = 10

[[channels]]
id = "ch1"
meter = "m1"
room_category = 5
height_cm = 100
background_uGy_h = 0.12

[[channels.alarms]]
kind = "twa"

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}

[influxdb]
url = "{vm_url}"
"""


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(percentile(values, 0.5), 4),
        "p99": round(percentile(values, 0.99), 4),
        "max": round(max(values), 4) if values else float("nan"),
    }


def vm_rows_inserted(vm: VictoriaMetrics) -> float:
    with urllib.request.urlopen(f"{vm.url}/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vm_rows_inserted_total") and 'type="influx"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def vm_newest_age_s(vm: VictoriaMetrics) -> dict[str, float]:
    q = urllib.parse.urlencode({"query": "time() - tlast_over_time(sample_seq[2m])", "nocache": "1"})
    with urllib.request.urlopen(f"{vm.url}/api/v1/query?{q}", timeout=10) as r:
        answer = json.loads(r.read())
    return {s["metric"]["site"]: float(s["value"][1]) for s in answer["data"]["result"]}


def ts_s(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def start_daemons(sites: list[str], tmp: Path, mqtt_port: int, vm_url: str) -> list[subprocess.Popen[bytes]]:
    daemons = []
    for index, site in enumerate(sites, start=1):
        work = tmp / site
        work.mkdir()
        cfg = work / "radsurvey.toml"
        cfg.write_text(site_config(site, index, work, mqtt_port, vm_url), encoding="utf-8")
        with open(work / "daemon.log", "wb") as log:
            daemons.append(subprocess.Popen([RADSURVEY, "run", "--config", str(cfg)], stdout=log, stderr=log))
    return daemons


def vm_lines(vm: VictoriaMetrics, window_s: float) -> float:
    """Line-protocol points (readings + samples) VictoriaMetrics holds from the last ``window_s`` seconds."""
    w = f"{window_s:.0f}s"
    expr = f"sum(count_over_time(sample_seq[{w}])) + sum(count_over_time(reading_seq[{w}]))"
    q = urllib.parse.urlencode({"query": expr, "nocache": "1"})
    vm.flush()
    with urllib.request.urlopen(f"{vm.url}/api/v1/query?{q}", timeout=30) as r:
        answer = json.loads(r.read())
    return float(answer["data"]["result"][0]["value"][1])


class Subscriber:
    """One client on radsurvey/# counting messages; the newest sample per site and each sample's delivery lag."""

    def __init__(self, port: int):
        self.port = port
        self.messages = 0
        self.newest: dict[str, float] = {}
        self.lags: list[float] = []
        self.sys_received: float | None = None
        self.counting = False

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port, identifier="fleet-bench") as client:
            await client.subscribe("radsurvey/#", qos=1)
            await client.subscribe("$SYS/broker/messages/received", qos=0)
            async for message in client.messages:
                topic = str(message.topic)
                if topic.startswith("$SYS/"):
                    self.sys_received = float(bytes(message.payload).decode())
                    continue
                now = time.time()
                if topic.endswith("/sample"):
                    sample = json.loads(bytes(message.payload))
                    site = topic.split("/")[1]
                    t = ts_s(sample["ts"])
                    self.newest[site] = max(self.newest.get(site, 0.0), t)
                    if self.counting:
                        self.lags.append(now - t)
                if self.counting:
                    self.messages += 1


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    broker = Mosquitto(tmp / "mosquitto")
    vm = VictoriaMetrics(tmp / "vm")
    broker.start()
    vm.start()
    daemons: list[subprocess.Popen[bytes]] = []
    subscriber = Subscriber(broker.port)
    listener = asyncio.create_task(subscriber.run())
    try:
        sites = [f"site-{i:04d}" for i in range(1, args.sites + 1)]
        started = time.monotonic()
        daemons += await asyncio.to_thread(start_daemons, sites, tmp, broker.port, vm.url)
        deadline = time.monotonic() + 60 + 3 * args.sites
        while len(subscriber.newest) < len(sites):
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(subscriber.newest)} of {len(sites)} sites published within the time")
            if any(d.poll() is not None for d in daemons):
                raise SystemExit("a daemon exited during start-up")
            await asyncio.sleep(0.5)
        startup_s = time.monotonic() - started
        await asyncio.sleep(5)  # let the start-up burst of every sink settle

        pids = {"mosquitto": broker.proc.pid, "victoria-metrics": vm.proc.pid}  # type: ignore[union-attr]
        ticks0 = {d.pid: cpu_ticks(d.pid) for d in daemons} | {k: cpu_ticks(p) for k, p in pids.items()}
        rss_max = {d.pid: 0.0 for d in daemons} | dict.fromkeys(pids, 0.0)
        rows0, sys0 = vm_rows_inserted(vm), subscriber.sys_received
        subscriber.counting = True
        t0 = time.monotonic()
        mqtt_ages: list[float] = []
        vm_ages: list[float] = []
        next_vm = t0
        while time.monotonic() - t0 < args.window:
            now = time.time()
            mqtt_ages += [now - subscriber.newest[s] for s in sites]
            if time.monotonic() >= next_vm:
                ages = vm_newest_age_s(vm)
                vm_ages += [ages.get(s, float("inf")) for s in sites]
                next_vm += 5
            for d in daemons:
                rss_max[d.pid] = max(rss_max[d.pid], rss_mb(d.pid))
            for name, pid in pids.items():
                rss_max[name] = max(rss_max[name], rss_mb(pid))
            await asyncio.sleep(1.0)
        subscriber.counting = False
        window_s = time.monotonic() - t0
        messages = subscriber.messages
        rows1, sys1 = vm_rows_inserted(vm), subscriber.sys_received
        lines = await asyncio.to_thread(vm_lines, vm, window_s)
        cpu = {d.pid: (cpu_ticks(d.pid) - ticks0[d.pid]) / CLK_TCK / window_s * 100 for d in daemons}
        server_cpu = {k: (cpu_ticks(p) - ticks0[k]) / CLK_TCK / window_s * 100 for k, p in pids.items()}
        if any(d.poll() is not None for d in daemons):
            raise SystemExit("a daemon exited during the measurement")
    finally:
        subscriber.counting = False
        for d in daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
        for d in daemons:
            try:
                d.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()
        listener.cancel()
        try:
            await listener
        except (asyncio.CancelledError, aiomqtt.MqttError):
            pass
        broker.stop()
        vm.stop()

    n = len(sites)
    msgs_s = messages / window_s
    rows_s = (rows1 - rows0) / window_s
    points_s = lines / window_s
    daemon_cpu = list(cpu.values())
    daemon_rss = [rss_max[d.pid] for d in daemons]
    per_site_msgs = msgs_s / n
    per_site_points = points_s / n
    return {
        "sites": n,
        "window_s": round(window_s, 1),
        "startup_s": round(startup_s, 1),
        "broker_messages_per_s": round(msgs_s, 1),
        "broker_sys_received_per_s": round((sys1 - sys0) / window_s, 1) if sys0 is not None and sys1 else None,
        "tsdb_points_per_s": round(points_s, 1),
        "tsdb_rows_per_s": round(rows_s, 1),
        "per_site": {
            "messages_per_s": round(per_site_msgs, 3),
            "points_per_s": round(per_site_points, 3),
            "rows_per_s": round(rows_s / n, 3),
        },
        "mqtt_delivery_lag_s": summary(subscriber.lags),
        "newest_sample_age_at_broker_s": summary(mqtt_ages),
        "newest_sample_age_in_tsdb_s": summary(vm_ages),
        "daemon_cpu_percent_of_one_core": {
            "median": round(statistics.median(daemon_cpu), 2),
            "max": round(max(daemon_cpu), 2),
            "sum": round(sum(daemon_cpu), 1),
        },
        "daemon_rss_mb": {"median": round(statistics.median(daemon_rss), 1), "max": round(max(daemon_rss), 1)},
        "mosquitto": {"cpu_percent": round(server_cpu["mosquitto"], 2), "rss_mb": round(rss_max["mosquitto"], 1)},
        "victoria_metrics": {
            "cpu_percent": round(server_cpu["victoria-metrics"], 2),
            "rss_mb": round(rss_max["victoria-metrics"], 1),
        },
        "for_1000_sites": {
            "broker_messages_per_s": round(per_site_msgs * 1000),
            "tsdb_points_per_s": round(per_site_points * 1000),
            "tsdb_rows_per_s": round(rows_s / n * 1000),
            "tsdb_rows_per_day": round(rows_s / n * 1000 * 86400),
            "mosquitto_cpu_percent_at_this_rate_per_message": round(
                server_cpu["mosquitto"] / msgs_s * per_site_msgs * 1000, 1
            ),
            "victoria_metrics_cpu_percent_at_this_rate_per_row": round(
                server_cpu["victoria-metrics"] / rows_s * rows_s / n * 1000, 1
            ),
        },
    }


def spread(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every numeric figure of the runs as {min, median, max}, keyed like the runs."""

    def walk(values: list[Any]) -> Any:
        first = values[0]
        if isinstance(first, dict):
            return {k: walk([v[k] for v in values]) for k in first}
        if isinstance(first, int | float) and not isinstance(first, bool):
            return {"min": min(values), "median": statistics.median(values), "max": max(values)}
        return first

    return walk(runs)  # type: ignore[no-any-return]


def machine() -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sites", type=int, default=50)
    parser.add_argument("--window", type=float, default=60.0, help="measurement window, seconds")
    parser.add_argument("--repeat", type=int, default=3, help="runs; every figure is given as min / median / max")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.sites < 1 or args.sites > 500 or args.window <= 0 or not 1 <= args.repeat <= 5:
        parser.error("--sites must be 1..500, --window positive, --repeat 1..5")
    before = machine()
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="radsurvey-fleet-") as tmp:
            runs.append(asyncio.run(measure(args, Path(tmp))))
    result = {"machine": {**before, "load_average_at_end": os.getloadavg()}, "summary": spread(runs), "runs": runs}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
