"""Sink benchmarks against real servers (mosquitto, VictoriaMetrics); prints one JSON document.

    python benchmarks/run.py [--quick] [--out results.json]

Not part of the test run. See benchmarks/README.md for the results and what they mean.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import Mosquitto, VictoriaMetrics  # noqa: E402 - benchmark helper, like the tests

RADSURVEY = str(Path(sys.executable).parent / "radsurvey")


def base_config(
    tmp: Path,
    *,
    mqtt_port: int | None,
    influx_url: str | None,
    meters: int,
    poll_s: float,
    enabled: bool = True,
    commit_interval_s: float = 0.05,
) -> dict:
    data: dict = {
        "site": {"id": "bench"},
        "journal": {"path": str(tmp / "journal.sqlite"), "commit_interval_s": commit_interval_s, "batch_size": 5000},
        "meters": [
            {
                "id": f"m{i}",
                "driver": "simulated",
                "poll_interval_s": poll_s,
                "seed": i,
                "background_uGy_h": 0.2,
                "enabled": enabled,
            }
            for i in range(meters)
        ],
        "channels": [{"id": f"c{i}", "meter": f"m{i}", "room_category": 1} for i in range(meters)],
    }
    if mqtt_port:
        data["mqtt"] = {
            "port": mqtt_port,
            "batch_size": int(os.environ.get("BENCH_MQTT_BATCH", "500")),
            "status_interval_s": 5,
        }
    if influx_url:
        data["influxdb"] = {"url": influx_url, "batch_size": 5000, "flush_interval_s": 0.2}
    return data


def write_toml(path: Path, data: dict) -> Path:
    import tomli_w

    path.write_text(tomli_w.dumps(data))
    return path


# -- 1. sustained throughput and the bare-client ratio ---------------------------------------


async def pipeline_throughput(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, n: int) -> dict:
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon
    from radsurvey.drivers.base import Quantity, Reading

    cfg = parse_config(
        base_config(tmp, mqtt_port=mq.port, influx_url=vm.url, meters=1, poll_s=1, enabled=False), environ={}
    )
    journal = Journal(cfg.journal.path, commit_interval_s=0.05, batch_size=5000)
    daemon = Daemon(cfg, journal, services=build_services(cfg))
    task = asyncio.create_task(daemon.run())
    sinks = [s for s in daemon.services if s.name in ("mqtt", "influxdb")]
    while not all(getattr(s, "connected", False) or s.name == "influxdb" for s in sinks):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    for i in range(n):
        daemon.on_reading(
            Reading(
                meter="m0",
                ts=datetime.now(UTC),
                value=0.2 + (i % 7) * 0.01,
                unit="uGy/h",
                quantity=Quantity.AIR_KERMA_RATE,
                meter_value=0.2,
            )
        )
        if i % 500 == 499:
            await asyncio.sleep(0)  # the meters' share of the loop
    produced_s = time.perf_counter() - t0
    await journal.aflush()
    top = journal.committed_seq
    deadline = time.monotonic() + 300
    while any(s.cursor < top for s in sinks) and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    done = all(s.cursor >= top for s in sinks)  # type: ignore[attr-defined]
    daemon.stop_event.set()
    await task
    await asyncio.to_thread(journal.close)
    return {
        "readings": n,
        "messages_per_reading": 2,
        "elapsed_s": round(elapsed, 3),
        "produce_s": round(produced_s, 3),
        "readings_per_s": round(n / elapsed, 1),
        "complete": done,
    }


async def bare_client(mq: Mosquitto, n: int) -> dict:
    """A bare aiomqtt client publishing what the sink publishes for ``n`` readings: a reading and a sample each."""
    import aiomqtt

    reading = json.dumps(
        {"seq": 1, "ts": "2026-01-01T00:00:00.000Z", "meter": "m0", "value": 0.2, "unit": "uGy/h",
         "quantity": "air_kerma_rate", "status": [], "meter_value": 0.2, "conversions": []},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    sample = json.dumps(
        {"seq": 2, "ts": "2026-01-01T00:00:00.000Z", "channel": "c0", "meter": "m0", "reading_seq": 1,
         "room_category": 1, "value_uGy_h": 0.2, "mean_uGy_h": 0.2, "window_n": 1, "background_uGy_h": 0.1,
         "net_uGy_h": 0.1, "below_background": False, "normalised_uGy_h": None, "effective_uSv_h": 0.05,
         "limit_uSv_h": 13.0, "ratio": 0.0038, "formula": "4", "corrections": []},
        separators=(",", ":"),
    ).encode()  # fmt: skip
    import logging

    quiet = logging.getLogger("bench.bare")
    quiet.setLevel(logging.ERROR)  # the same quiet logger the sink uses
    async with aiomqtt.Client("127.0.0.1", mq.port, max_inflight_messages=1000, logger=quiet) as c:
        t0 = time.perf_counter()
        for start in range(0, n, 500):
            count = min(500, n - start)
            await asyncio.gather(
                *(c.publish("bench/bare/meters/m0/reading", reading, qos=1) for _ in range(count)),
                *(c.publish("bench/bare/channels/c0/sample", sample, qos=1) for _ in range(count)),
            )
        elapsed = time.perf_counter() - t0
    return {
        "readings": n,
        "messages": 2 * n,
        "elapsed_s": round(elapsed, 3),
        "readings_per_s": round(n / elapsed, 1),
        "messages_per_s": round(2 * n / elapsed, 1),
    }


# -- 2. --help -----------------------------------------------------------------------------------


def help_time(runs: int = 7) -> dict:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([RADSURVEY, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return {"runs": runs, "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


# -- 3. backlog drain to the TSDB ------------------------------------------------------------------


async def drain_rate(tmp: Path, vm: VictoriaMetrics, n: int) -> dict:
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal, now_iso
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon

    data = base_config(tmp, mqtt_port=None, influx_url=vm.url, meters=1, poll_s=1, enabled=False)
    data["channels"] = []
    cfg = parse_config(data, environ={})
    journal = Journal(cfg.journal.path, commit_interval_s=0.2, batch_size=20000)
    base = time.time() - n / 1000
    for i in range(n):  # the outage: n readings journaled, nothing delivered
        ts = datetime.fromtimestamp(base + i / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        journal.append(
            "readings", {"ts": ts, "meter": "m0", "value": 0.2, "unit": "uGy/h", "quantity": "air_kerma_rate"}
        )
    journal.flush(300)
    top = journal.committed_seq
    daemon = Daemon(cfg, journal, services=build_services(cfg))
    task = asyncio.create_task(daemon.run())
    sink = next(s for s in daemon.services if s.name == "influxdb")
    t0 = time.perf_counter()
    deadline = time.monotonic() + 300
    while sink.cursor < top and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - t0
    daemon.stop_event.set()
    await task
    await asyncio.to_thread(journal.close)
    del now_iso
    return {
        "points": n,
        "elapsed_s": round(elapsed, 3),
        "points_per_s": round(n / elapsed, 1),
        "complete": sink.cursor >= top,
    }  # type: ignore[attr-defined]


# -- 4. footprint of radsurvey run -------------------------------------------------------------------


# The longest twa window the config allows now (8 h: the working-day average of the soak in issue 24).
LONGEST_TWA = {"kind": "twa", "id": "twa-8h", "window_s": 8 * 3600}


def footprint(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, seconds: float) -> dict:
    data = base_config(tmp, mqtt_port=mq.port, influx_url=vm.url, meters=8, poll_s=1.0, commit_interval_s=1.0)
    for channel in data["channels"]:
        channel["alarms"] = [LONGEST_TWA]  # the longest window allowed, on every channel (issue 14)
    cfg = write_toml(tmp / "fp.toml", data)
    proc = subprocess.Popen(
        [RADSURVEY, "run", "--config", str(cfg), "--json", "--duration", str(seconds + 5)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(5)  # start-up (imports, connections) is not the steady state

    def cpu_s() -> float:
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    c0, t0 = cpu_s(), time.perf_counter()
    rss_max = 0
    while time.perf_counter() - t0 < seconds:
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss_max = max(rss_max, int(line.split()[1]))
        time.sleep(1)
    c1, t1 = cpu_s(), time.perf_counter()
    if proc.wait(30) != 0:
        raise RuntimeError(f"radsurvey run exited with {proc.returncode}: check the benchmark's config")
    return {
        "meters": 8,
        "poll_interval_s": 1.0,
        "alarm_rules_per_channel": [LONGEST_TWA],
        "measured_s": round(t1 - t0, 1),
        "rss_max_mb": round(rss_max / 1024, 1),
        "cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 2),
    }


def alarm_window_memory(days: float) -> dict:
    """Heap held by a 1-week twa window fed at 1 Hz for ``days`` simulated days, against per-sample segments.

    The baseline in the same run keeps every sample as a (start, end, value)
    segment, as 0.1 did; the bucketed window must stay flat once the week is full.
    """
    import tracemalloc
    from collections import deque

    from radsurvey.daemon.alarms.engine import TimeWeightedWindow

    seconds = int(days * 86400)
    week = 7 * 86400

    def held(make, feed) -> tuple[int, object]:
        tracemalloc.start()
        obj = make()
        for t in range(1, seconds + 1):
            feed(obj, float(t))
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        return size, obj

    def feed_segments(segments: deque, t: float) -> None:
        segments.append((t - 1.0, t, 1.0))
        while segments and segments[0][1] <= t - week:
            segments.popleft()

    bucketed, window = held(lambda: TimeWeightedWindow(week, max_gap_s=300), lambda w, t: w.add(t, 1.0))
    per_sample, segments = held(deque, feed_segments)
    return {
        "simulated_days": days,
        "rate_hz": 1,
        "bucketed_bytes": bucketed,
        "buckets": window.bucket_count,  # type: ignore[attr-defined]
        "per_sample_bytes": per_sample,
        "segments": len(segments),  # type: ignore[arg-type]
        "ratio_bucketed_to_per_sample": round(bucketed / per_sample, 5),
    }


def _console_client(port: int, stop: threading.Event) -> None:
    """An open page's event stream, every page once in en and ru, then the overview's JSON every second."""
    import http.client
    import urllib.request

    from benchmarks.web import PAGES  # the pages web.py's RSS client fetches

    def events() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events", timeout=10) as stream:
                    while not stop.is_set() and stream.read1(65536):
                        pass
            except (OSError, http.client.HTTPException):  # the daemon stopping ends the stream
                stop.wait(0.5)

    threading.Thread(target=events, daemon=True).start()
    n = 0
    while not stop.is_set():
        path = PAGES[n] if n < len(PAGES) else "/api/overview"
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
            n += 1
        except (OSError, http.client.HTTPException):  # not listening yet, or stopping
            pass
        stop.wait(1.0 if n > len(PAGES) else 0.2)


def footprint_console_once(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, seconds: float, web: bool) -> dict:
    """RSS and CPU of ``radsurvey run`` as the soak configures it (both sinks, 8 h twa, console if ``web``)."""
    from benchmarks.soak import config, free_port
    from benchmarks.web import installed_env  # our bytecode compiled, as pip does at install

    port = free_port()
    cfg = config(tmp, mq, vm, port)
    if not web:
        import tomllib

        data = tomllib.loads(cfg.read_text())
        del data["web"]
        cfg = write_toml(cfg, data)
    proc = subprocess.Popen(
        [RADSURVEY, "run", "--config", str(cfg), "--json", "--duration", str(seconds + 5)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=installed_env(),
    )
    stop = threading.Event()
    client = threading.Thread(target=_console_client, args=(port, stop), daemon=True) if web else None
    if client is not None:
        client.start()
    try:
        time.sleep(5)  # start-up (imports, connections, discovery) is not the steady state
        c0, t0 = cpu_s(proc.pid), time.perf_counter()
        rss_kb: list[int] = []
        while time.perf_counter() - t0 < seconds:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb.append(int(line.split()[1]))
            time.sleep(1)
        c1, t1 = cpu_s(proc.pid), time.perf_counter()
    finally:
        stop.set()
        if proc.wait(30) != 0:
            raise RuntimeError(f"radsurvey run exited with {proc.returncode}: check the benchmark's config")
    return {
        "rss_max_mb": round(max(rss_kb) / 1024, 1),
        "rss_at_end_mb": round(rss_kb[-1] / 1024, 1),
        "cpu_percent_of_one_core": round(100 * (c1 - c0) / (t1 - t0), 2),
    }


def footprint_console(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, seconds: float, repeat: int) -> dict:
    """Issue 24 §5: the Pi's set-up with and without the console, runs interleaved, min / median of ``repeat``."""
    runs: dict[str, list[dict]] = {"both_sinks": [], "both_sinks_and_console": []}
    for r in range(repeat):
        for name, web in (("both_sinks", False), ("both_sinks_and_console", True)):
            d = tmp / f"fc-{name}-{r}"
            d.mkdir()
            runs[name].append(footprint_console_once(d, mq, vm, seconds, web))
    out: dict = {
        "setup": "benchmarks/soak.py's config: 8 simulated meters at 1 Hz, mosquitto (HA discovery) + VictoriaMetrics"
        " (v2), an 8 h twa per channel, [web] or not; console client: SSE, every page in en and ru, overview 1/s",
        "measured_s": seconds,
        "repeat": repeat,
        "runs": runs,
    }
    for name, got in runs.items():
        for key in ("rss_max_mb", "cpu_percent_of_one_core"):
            values = sorted(x[key] for x in got)
            out.setdefault(name + "_summary", {})[f"{key}_min"] = values[0]
            out[name + "_summary"][f"{key}_median"] = statistics.median(values)
    return out


# -- 5. latency: a frame written on a pty -> the MQTT message at a subscriber ----------------------------


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def latency(
    tmp: Path,
    mq: Mosquitto,
    seconds: float,
    *,
    meters: int = 50,
    commit_interval_s: float,
    influx_url: str | None = None,
    trace: bool = False,
    env: dict[str, str] | None = None,
) -> dict:
    """``meters`` MightyOhm-format meters streaming on real ptys into ``radsurvey run``; 1 line per meter per second.

    Each line's CPM field is a per-meter counter, so the reading's ``meter_value``
    names the exact line, and the latency is the subscriber's receive time minus
    the time the benchmark wrote that line on the pty master.
    """
    import aiomqtt

    ptys = []
    for _ in range(meters):
        master, slave = os.openpty()
        os.set_blocking(master, False)
        ptys.append((master, slave, os.ttyname(slave)))
    data = base_config(
        tmp, mqtt_port=mq.port, influx_url=influx_url, meters=meters, poll_s=1.0, commit_interval_s=commit_interval_s
    )
    data["meters"] = [
        {"id": f"m{i}", "driver": "ascii", "profile": "mightyohm", "port": name, "sensitivity_cpm_per_uSv_h": 175.4}
        for i, (_m, _s, name) in enumerate(ptys)
    ]
    cfg = write_toml(tmp / "lat.toml", data)
    written: dict[tuple[str, int], float] = {}
    lat_ms: list[float] = []
    received: list[tuple[int, float, float]] = []  # (seq, written on the pty, received)
    lost = 0
    cpu: list[tuple[float, float]] = []  # (process CPU s, wall s) at the start and the end of the measurement

    async def stream() -> None:
        count = 0
        period = 1.0 / meters
        next_t = time.monotonic()
        while True:
            count += 1
            for i, (master, _s, _n) in enumerate(ptys):
                next_t += period
                await asyncio.sleep(max(0.0, next_t - time.monotonic()))
                line = f"CPS, {count % 1000}, CPM, {count}, uSv/hr, {count * 0.0057:.2f}, SLOW\r\n".encode()
                try:
                    os.write(master, line)
                    written[(f"m{i}", count)] = time.time()
                except BlockingIOError:  # the daemon is not reading this pty (yet)
                    pass

    try:
        async with aiomqtt.Client("127.0.0.1", mq.port) as c:
            await c.subscribe("radsurvey/bench/meters/+/reading", qos=1)
            # BENCH_PYTHON in a variant's environment: another checkout's interpreter (before / after in one session)
            python = (env or {}).get("BENCH_PYTHON", sys.executable)
            command = [str(Path(python).parent / "radsurvey")]
            if trace:  # the same daemon, each reading's steps time-stamped (benchmarks/latency_trace.py)
                command = [python, str(ROOT / "benchmarks" / "latency_trace.py"), str(tmp / "trace.json")]
            proc = await asyncio.create_subprocess_exec(
                *command, "run", "--config", str(cfg), "--json", "--duration", str(seconds + 8),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
            )  # fmt: skip
            writer = asyncio.create_task(stream())
            start = time.monotonic()
            try:
                async with asyncio.timeout(seconds + 30):
                    async for m in c.messages:
                        now = time.time()
                        reading = json.loads(m.payload)  # type: ignore[arg-type]
                        key = (reading["meter"], int(reading["meter_value"]))
                        sent = written.get(key)
                        if time.monotonic() - start > 5:  # skip start-up and the replay of the first rows
                            if not cpu:
                                cpu.append((cpu_s(proc.pid), time.monotonic()))
                            if sent is None:
                                lost += 1
                            else:
                                lat_ms.append((now - sent) * 1000)
                                received.append((int(reading["seq"]), sent, now))
                        if time.monotonic() - start > seconds + 5:
                            cpu.append((cpu_s(proc.pid), time.monotonic()))
                            break
            finally:
                writer.cancel()
                await proc.wait()
    finally:
        for master, slave, _n in ptys:
            os.close(master)
            os.close(slave)
    lat_ms.sort()
    q = lambda p: round(lat_ms[min(len(lat_ms) - 1, int(p * len(lat_ms)))], 2)  # noqa: E731
    core = (cpu[-1][0] - cpu[0][0]) / (cpu[-1][1] - cpu[0][1]) if len(cpu) == 2 else float("nan")
    out = {
        "meters": meters,
        "sinks": "mqtt + influxdb (VictoriaMetrics)" if influx_url else "mqtt",
        "cpu_percent_of_one_core": round(100 * core, 1),
        "cpu_percent_per_meter": round(100 * core / meters, 3),
        "hz": 1,
        "driver": "ascii (MightyOhm line format) on real ptys",
        "journal_commit_interval_s": commit_interval_s,
        "messages": len(lat_ms),
        "unmatched": lost,
        "p50_ms": q(0.5),
        "p99_ms": q(0.99),
        "max_ms": q(1.0),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    if env:
        out["env"] = env
    if trace:
        out["stages"] = stage_breakdown(json.loads((tmp / "trace.json").read_text()), received)
    return out


STAGES = ("append", "commit", "read_start", "read", "submit", "publish")


def stage_breakdown(trace: dict, received: list[tuple[int, float, float]]) -> dict:
    """Where the time of the slowest 1 % of the messages went, step by step, beside every message's median.

    Steps (benchmarks/latency_trace.py): pty write -> ``append`` (the driver's line
    journaled) -> ``commit`` -> ``read`` (the MQTT sink's page) -> ``submit`` (handed
    to the publisher) -> ``publish`` (paho sent it) -> the subscriber.
    """
    rows = []
    for seq, sent, got in received:
        steps = trace["per_seq"].get(str(seq))
        if steps is None or any(steps.get(k) is None for k in STAGES):
            continue
        times = [sent, *(steps[k] for k in STAGES), got]
        rows.append((got - sent, [(b - a) * 1000 for a, b in itertools.pairwise(times)]))
    rows.sort(key=lambda r: r[0])
    names = [
        "pty->" + STAGES[0],
        *(f"{a}->{b}" for a, b in itertools.pairwise(STAGES)),
        "publish->subscriber",
    ]
    tail = rows[int(0.99 * len(rows)) :]

    def summary(part: list) -> dict:
        return {n: round(statistics.mean(r[1][i] for r in part), 2) for i, n in enumerate(names)} if part else {}

    def median(part: list) -> dict:
        return {n: round(statistics.median(r[1][i] for r in part), 2) for i, n in enumerate(names)} if part else {}

    t0 = min(s for _q, s, _g in received) if received else 0.0
    return {
        "traced": len(rows),
        "median_ms": median(rows),
        "slowest_1pct_mean_ms": summary(tail),
        "slowest_10": [
            {"total_ms": round(total * 1000, 1), **{n: round(v, 1) for n, v in zip(names, steps, strict=False)}}
            for total, steps in rows[-10:]
        ],
        "gc": _gc_summary(trace["gc"]),
        "loop_stalls_over_3ms": {
            "count": len(trace["stalls"]),
            "max_ms": round(max((s[1] for s in trace["stalls"]), default=0) * 1000, 1),
            "over_10ms": sum(1 for s in trace["stalls"] if s[1] > 0.010),
            "over_10ms_at_s": [(round(t - t0, 2), round(s * 1000, 1)) for t, s in trace["stalls"] if s > 0.010][:30],
        },
        "puback_waits": {
            "count": len(trace["ack_waits"]),
            "over_5ms": sum(1 for w in trace["ack_waits"] if w[1] > 0.005),
            "max_ms": round(max((w[1] for w in trace["ack_waits"]), default=0) * 1000, 1),
            "mean_ms": round(statistics.mean(w[1] for w in trace["ack_waits"]) * 1000, 2) if trace["ack_waits"] else 0,
        },
        "switch_interval_s": trace["switch_interval_s"],
        "gc_frozen": trace.get("gc_frozen"),
    }


def _gc_summary(gcs: list) -> dict:
    out = {}
    for gen in (0, 1, 2):
        d = [x[2] * 1000 for x in gcs if x[0] == gen]
        out[f"gen{gen}"] = {"count": len(d), "max_ms": round(max(d, default=0), 2), "total_ms": round(sum(d), 1)}
    return out


async def latency_scaling(
    tmp: Path,
    mq: Mosquitto,
    vm: VictoriaMetrics,
    seconds: float,
    repeat: int,
    *,
    sizes: tuple[int, ...] = (50, 200),
    variants: dict[str, dict[str, str]] | None = None,
    trace: bool = False,
) -> dict:
    """Issue 24 §4: p99 and CPU per meter at 50 and at 200 meters, both sinks, commit 5 ms; runs interleaved.

    ``variants``: name -> environment of the daemon, each run in turn in the same session (A/B).
    """
    variants = variants or {"": {}}
    runs: dict[str, list[dict]] = {}
    for r in range(repeat):
        for meters in sizes:
            for name, env in variants.items():
                key = f"{meters}" + (f"_{name}" if name else "")
                d = tmp / f"l{key}-{r}"
                d.mkdir()
                got = await latency(
                    d, mq, seconds, meters=meters, commit_interval_s=0.005, influx_url=vm.url, trace=trace, env=env
                )
                runs.setdefault(key, []).append(got)
                print(key, r, {k: got[k] for k in ("p50_ms", "p99_ms", "cpu_percent_per_meter", "load_average_1min")},
                      file=sys.stderr, flush=True)  # fmt: skip
    out: dict = {"repeat": repeat, "runs": runs}
    for key, got in runs.items():
        p99 = sorted(x["p99_ms"] for x in got)
        per_meter = sorted(x["cpu_percent_per_meter"] for x in got)
        out[f"{key}_meters"] = {
            "p99_ms_min": p99[0],
            "p99_ms_median": statistics.median(p99),
            "cpu_percent_per_meter_min": per_meter[0],
            "cpu_percent_per_meter_median": statistics.median(per_meter),
            "unmatched": sum(x["unmatched"] for x in got),
        }
    for name in variants:
        suffix = f"_{name}" if name else ""
        small, large = out.get(f"50{suffix}_meters"), out.get(f"200{suffix}_meters")
        if small and large:
            out[f"cpu_per_meter_ratio_200_to_50_median{suffix}"] = round(
                large["cpu_percent_per_meter_median"] / small["cpu_percent_per_meter_median"], 2
            )
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller N and shorter runs")
    ap.add_argument("--out", type=Path)
    ap.add_argument(
        "--only", help="comma-separated subset: help,throughput,drain,footprint,footprint-console,latency,latency200"
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="latency200, footprint-console: runs of each (min / median reported)"
    )
    ap.add_argument("--sizes", default="50,200", help="latency200: meter counts, comma-separated")
    ap.add_argument(
        "--variant",
        action="append",
        default=[],
        help="latency200: NAME:VAR=VALUE,... an environment for the daemon, run interleaved with the others (A/B)",
    )
    ap.add_argument(
        "--trace", action="store_true", help="latency200: time-stamp each step (benchmarks/latency_trace.py)"
    )
    args = ap.parse_args()
    n = 20_000 if args.quick else 50_000
    drain_n = 100_000 if args.quick else 1_000_000
    fp_s = 20 if args.quick else 60
    results: dict = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mq, vm = Mosquitto(tmp / "mq"), VictoriaMetrics(tmp / "vm")
        mq.start()
        vm.start()
        try:
            only = set(args.only.split(",")) if args.only else {"help", "throughput", "drain", "footprint", "latency"}
            if "help" in only:
                results["help"] = help_time()
            if "throughput" in only:
                results["bare_mqtt_client"] = await bare_client(mq, n)
                (tmp / "t").mkdir()
                results["pipeline_both_sinks"] = await pipeline_throughput(tmp / "t", mq, vm, n)
                results["pipeline_both_sinks"]["ratio_to_bare_client"] = round(
                    results["pipeline_both_sinks"]["readings_per_s"] / results["bare_mqtt_client"]["readings_per_s"],
                    3,
                )
            if "drain" in only:
                (tmp / "d").mkdir()
                results["drain_to_tsdb"] = await drain_rate(tmp / "d", vm, drain_n)
            if "footprint" in only:
                (tmp / "f").mkdir()
                results["footprint_8_meters"] = footprint(tmp / "f", mq, vm, fp_s)
                results["alarm_window_memory"] = alarm_window_memory(2.0 if args.quick else 8.0)
            if "footprint-console" in only:
                results["footprint_console"] = footprint_console(tmp, mq, vm, fp_s, args.repeat)
            if "latency" in only:
                lat_s = 20 if args.quick else 30
                (tmp / "l").mkdir()
                results["latency_50_meters"] = await latency(tmp / "l", mq, lat_s, commit_interval_s=0.005)
                (tmp / "l1").mkdir()
                results["latency_50_meters_default_commit"] = await latency(
                    tmp / "l1", mq, lat_s, commit_interval_s=1.0
                )
            if "latency200" in only:
                variants = {}
                for v in args.variant:
                    name, _, assignments = v.partition(":")
                    variants[name] = dict(a.split("=", 1) for a in assignments.split(",") if a)
                results["latency_scaling"] = await latency_scaling(
                    tmp,
                    mq,
                    vm,
                    20 if args.quick else 30,
                    args.repeat,
                    sizes=tuple(int(x) for x in args.sizes.split(",")),
                    variants=variants or None,
                    trace=args.trace,
                )
        finally:
            mq.stop()
            vm.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
