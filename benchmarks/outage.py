"""After-outage benchmarks against real servers (docs/architecture.md#performance); prints one JSON document.

    .venv/bin/python benchmarks/outage.py [--quick] [--only drain,state] [--out benchmarks/outage-results.json]

* drain: a 24-hour backlog of 8 meters at 1 Hz (691 200 readings + 691 200
  samples) in the journal, nothing delivered; the InfluxDB sink is started and
  timed until its cursor reaches the last seq, to InfluxDB 1.x through
  ``api = "v1"`` and, in the same run, to VictoriaMetrics through the v2 API.
  Every point is counted back (InfluxQL ``COUNT`` / VictoriaMetrics export).
* state: a one-hour backlog of 50 meters (180 000 readings + 180 000 samples)
  not yet published, the broker down, 50 simulated meters at 1 Hz running;
  the broker comes back and the time until every channel's retained
  ``state`` carries a sample at least as new as the newest one committed at the
  broker's return is measured, with the replay rate of the ordered stream.

Not part of the test run. See benchmarks/README.md for the results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.servers import InfluxDB1, Mosquitto, VictoriaMetrics  # noqa: E402 - benchmark helper, like the tests

SAMPLE_ROW = {
    "room_category": 1,
    "value_uGy_h": 0.21,
    "mean_uGy_h": 0.2,
    "window_n": 10,
    "background_uGy_h": 0.12,
    "net_uGy_h": 0.08,
    "below_background": 0,
    "normalised_uGy_h": None,
    "effective_uSv_h": 0.04,
    "limit_uSv_h": 2.5,
    "ratio": 0.016,
    "formula": "E = 0.5 * D(100 cm)",
    "corrections": "[]",
}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def config(tmp: Path, *, meters: int, enabled: bool, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "site": {"id": "bench"},
        "journal": {"path": str(tmp / "journal.sqlite"), "commit_interval_s": 0.2, "batch_size": 5000},
        "meters": [
            {"id": f"m{i}", "driver": "simulated", "poll_interval_s": 1.0, "seed": i, "enabled": enabled}
            for i in range(meters)
        ],
        "channels": [{"id": f"c{i}", "meter": f"m{i}", "room_category": 1} for i in range(meters)],
    }
    data.update(sections)
    return data


def prefill(path: Path, *, meters: int, seconds: int, end: float) -> int:
    """The outage's backlog: ``seconds`` of 1 Hz readings and samples per meter, ending at ``end``; its last seq."""
    from radsurvey.daemon.journal import Journal

    journal = Journal(path, commit_interval_s=0.5, batch_size=20000)
    start = end - seconds
    for s in range(seconds):
        for m in range(meters):
            ts = iso(start + s + m / (meters * 10))
            rseq = journal.append(
                "readings",
                {
                    "ts": ts,
                    "meter": f"m{m}",
                    "value": 0.21,
                    "unit": "uGy/h",
                    "quantity": "air_kerma_rate",
                    "status": "[]",
                    "conversions": "[]",
                    "meter_value": 0.21,
                },
            )
            journal.append(
                "samples", {"ts": ts, "channel": f"c{m}", "meter": f"m{m}", "reading_seq": rseq, **SAMPLE_ROW}
            )
    journal.flush(600)
    top = journal.committed_seq
    journal.close()
    return top


async def drain(cfg_data: dict[str, Any], top: int, sink_name: str = "influxdb") -> dict[str, Any]:
    """Start the daemon with only the sink ``sink_name`` and time it until its cursor reaches ``top``."""
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon

    cfg = parse_config(cfg_data, environ={})
    journal = Journal(cfg.journal.path, commit_interval_s=0.2)
    services = [s for s in build_services(cfg) if s.name == sink_name]
    daemon = Daemon(cfg, journal, services=services)
    t0 = time.perf_counter()
    task = asyncio.create_task(daemon.run())
    sink = services[0]
    deadline = time.monotonic() + 600
    connected_s = None  # the MQTT sink's CONNACK (start-up before it: journal, services, connection)
    while sink.cursor < top and time.monotonic() < deadline and not task.done():  # type: ignore[attr-defined]
        if connected_s is None and sink_name == "mqtt" and sink.connected:  # type: ignore[attr-defined]
            connected_s = time.perf_counter() - t0
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - t0
    status = sink.status()  # type: ignore[attr-defined]
    daemon.stop_event.set()
    await task
    await asyncio.to_thread(journal.close)
    return {
        "elapsed_s": round(elapsed, 2),
        "connected_after_s": None if connected_s is None else round(connected_s, 2),
        "rows_per_s": round(top / elapsed),
        "complete": status["cursor_seq"] >= top,
        "errors": status["errors"],
        "last_error": status["last_error"],
    }


def bare_bodies(path: Path, batch: int) -> list[bytes]:
    """The backlog as gzipped line-protocol bodies of ``batch`` points, built before any clock starts.

    The same points the sink writes (its own line builder, through the views),
    with the measurement renamed ``bare_reading`` / ``bare_sample`` so that they
    are counted apart from the sink's on the same server.
    """
    import gzip

    from radsurvey.daemon.journal import connect
    from radsurvey.daemon.sinks.payloads import INFLUX_ROUTES, InfluxContext

    ctx = InfluxContext(site="bench", channel_heights_cm={})
    conn = connect(path, readonly=True)
    lines: list[str] = []
    for table in ("readings", "samples"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY seq"):
            lines.append("bare_" + INFLUX_ROUTES[table](dict(row), ctx))
    conn.close()
    return [
        gzip.compress("\n".join(lines[i : i + batch]).encode(), compresslevel=1) for i in range(0, len(lines), batch)
    ]


def bare_write(url: str, path_query: str, bodies: list[bytes]) -> float:
    """The anchor: POST prebuilt, precompressed bodies one after another on one kept-alive connection; seconds."""
    import http.client
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {"Content-Type": "text/plain; charset=utf-8", "Content-Encoding": "gzip"}
    t0 = time.perf_counter()
    for body in bodies:
        conn.request("POST", path_query, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status not in (200, 204):
            raise RuntimeError(f"bare writer: HTTP {response.status}")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed


def _spread(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"min": round(ordered[0], 3), "median": round(ordered[len(ordered) // 2], 3), "runs": len(values)}


async def drain_benchmark(tmp: Path, hours: float, repeat: int = 3) -> dict[str, Any]:
    """Per repetition and API: the bare writer, then the sink, on a fresh database (v1) or a fresh server (v2)."""
    import shutil

    meters, seconds = 8, int(hours * 3600)
    t0 = time.perf_counter()
    (tmp / "fill").mkdir()
    master = tmp / "fill" / "journal.sqlite"
    top = prefill(master, meters=meters, seconds=seconds, end=time.time() - 60)
    fill_s = time.perf_counter() - t0
    bodies = bare_bodies(master, 5000)  # the sink's default batch_size
    out: dict[str, Any] = {
        "backlog": {"meters": meters, "hours": hours, "rows": top, "points": top, "fill_s": round(fill_s, 1)},
        "runs": [],
    }
    for rep in range(repeat):
        for api in ("v1", "v2"):
            work = tmp / f"{api}-{rep}"
            work.mkdir()
            shutil.copy(master, work / "journal.sqlite")
            if api == "v1":
                server: Any = InfluxDB1(work / "influxd")
            else:
                server = VictoriaMetrics(work / "vm")
            server.start()
            try:
                if api == "v1":
                    server.create_database("radsurvey")
                    bare_s = await asyncio.to_thread(bare_write, server.url, "/write?db=radsurvey&precision=ns", bodies)
                    data = config(
                        work,
                        meters=meters,
                        enabled=False,
                        influxdb={"api": "v1", "url": server.url, "database": "radsurvey"},
                    )
                else:
                    bare_s = await asyncio.to_thread(
                        bare_write, server.url, "/api/v2/write?org=&bucket=radsurvey&precision=ns", bodies
                    )
                    data = config(work, meters=meters, enabled=False, influxdb={"url": server.url})
                load_before = os.getloadavg()[0]
                result = await drain(data, top)
                # The machine is shared: the 1-minute load average around the sink's run, to read the spread by.
                result["load_average_1min_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
                if api == "v1":
                    stored = {}
                    for measurement in ("reading", "sample", "bare_reading", "bare_sample"):
                        rows = server.values(f'SELECT COUNT("seq") FROM "{measurement}"', db="radsurvey")
                        stored[measurement] = int(rows[0][1]) if rows else 0
                    result["server"] = f"InfluxDB {server.version()}"
                else:
                    server.flush()
                    series = server.export('{__name__=~"(bare_)?(reading|sample)_seq"}')
                    stored = {
                        name: sum(len(s["values"]) for s in series if s["metric"]["__name__"] == f"{name}_seq")
                        for name in ("reading", "sample", "bare_reading", "bare_sample")
                    }
                    result["server"] = "VictoriaMetrics"
                result["stored"] = stored
                result["bare_writer_s"] = round(bare_s, 2)
                result["ratio_to_bare_writer"] = round(bare_s / result["elapsed_s"], 3)
                out["runs"].append({"api": api, "repetition": rep, **result})
            finally:
                server.stop()
            shutil.rmtree(work, ignore_errors=True)
    for api, key in (("v1", "v1_influxdb_1x"), ("v2", "v2_victoriametrics")):
        runs = [r for r in out["runs"] if r["api"] == api]
        out[key] = {
            "sink_s": _spread([r["elapsed_s"] for r in runs]),
            "bare_writer_s": _spread([r["bare_writer_s"] for r in runs]),
            "ratio_to_bare_writer": _spread([r["ratio_to_bare_writer"] for r in runs]),
            "complete": all(r["complete"] and r["stored"]["reading"] + r["stored"]["sample"] >= top for r in runs),
        }
    return out


async def state_benchmark(tmp: Path, hours: float, meters: int = 50) -> dict[str, Any]:
    import aiomqtt

    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon

    seconds = int(hours * 3600)
    path = tmp / "journal.sqlite"
    backlog_top = prefill(path, meters=meters, seconds=seconds, end=time.time() - 5)
    mq = Mosquitto(tmp / "mq")  # not started: the broker is down
    data = config(
        tmp,
        meters=meters,
        enabled=True,
        mqtt={"port": mq.port, "reconnect_initial_s": 0.2, "reconnect_max_s": 0.5, "status_interval_s": 5},
    )
    cfg = parse_config(data, environ={})
    journal = Journal(cfg.journal.path, commit_interval_s=cfg.journal.commit_interval_s)
    daemon = Daemon(cfg, journal, services=build_services(cfg))
    sink = next(s for s in daemon.services if s.name == "mqtt")
    task = asyncio.create_task(daemon.run())
    await asyncio.sleep(5.0)  # live samples accumulate on top of the backlog
    await journal.aflush()
    conn = __import__("sqlite3").connect(f"file:{path}?mode=ro", uri=True)
    newest = {ch: seq for ch, seq in conn.execute("SELECT channel, MAX(seq) FROM samples GROUP BY channel")}
    conn.close()
    top_at_return = journal.committed_seq
    mq.start()
    returned = time.perf_counter()
    current: dict[str, float] = {}
    connected_at: list[float] = []

    async def watch() -> None:
        async with aiomqtt.Client("127.0.0.1", mq.port, timeout=5) as client:
            await client.subscribe("radsurvey/bench/channels/+/state", qos=1)
            async for m in client.messages:
                payload = json.loads(bytes(m.payload))  # type: ignore[arg-type]
                ch = str(m.topic).split("/")[-2]
                if ch not in current and payload["seq"] >= newest[ch]:
                    current[ch] = time.perf_counter() - returned
                    if len(current) == meters:
                        return

    async def sink_connected() -> None:
        while not sink.connected:  # type: ignore[attr-defined]  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        connected_at.append(time.perf_counter() - returned)

    await asyncio.wait_for(asyncio.gather(watch(), sink_connected()), 60)
    replay_t0 = returned
    deadline = time.monotonic() + 900
    while sink.cursor < top_at_return and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    replay_s = time.perf_counter() - replay_t0
    replay_done = sink.cursor >= top_at_return  # type: ignore[attr-defined]
    daemon.stop_event.set()
    await task
    await asyncio.to_thread(journal.close)
    mq.stop()
    state_s = max(current.values())
    return {
        "backlog": {"meters": meters, "hours": hours, "rows": backlog_top, "rows_at_return": top_at_return},
        "reconnect_max_s": 0.5,
        "sink_reconnected_after_s": round(connected_at[0], 3),
        "all_states_current_after_s": round(state_s, 3),
        "states_current_after_reconnect_s": round(state_s - connected_at[0], 3),
        "median_channel_state_s": round(sorted(current.values())[len(current) // 2], 3),
        "sample_replay_s": round(replay_s, 1),
        "sample_replay_rows_per_s": round(top_at_return / replay_s),
        "replay_complete": replay_done,
        "state_before_replay_end": state_s < replay_s,
    }


def replay_messages(path: Path, cfg: Any) -> list[tuple[str, bytes, int, bool]]:
    """Every message the MQTT sink publishes for the journal's rows, built by the sink's own code (untimed)."""
    from radsurvey.daemon.journal import connect
    from radsurvey.daemon.sinks.base import JournalRow
    from radsurvey.daemon.sinks.mqtt import MqttSink

    sink = MqttSink(cfg, cfg.mqtt)
    conn = connect(path, readonly=True)
    rows = [
        JournalRow(t, r["seq"], dict(r)) for t in ("readings", "samples") for r in conn.execute(f"SELECT * FROM {t}")
    ]
    conn.close()
    rows.sort(key=lambda r: r.seq)
    return [m for row in rows for m in sink.messages_for(row)]


async def bare_publish(
    port: int, messages: list[tuple[str, bytes, int, bool]], window: int, publish_timeout_s: float | None = None
) -> float:
    """The anchor: a bare aiomqtt client publishing ``messages`` (QoS 1) with ``window`` awaiting PUBACK; seconds.

    ``publish_timeout_s`` is ``publish``'s ``timeout``: None is aiomqtt's default (the client's 30 s, a task
    and a timer per publish); ``math.inf`` is the lighter call the sink makes (it times PUBACKs itself), the
    second anchor.
    """
    import logging

    import aiomqtt

    quiet = logging.getLogger("bench.bare")
    quiet.setLevel(logging.ERROR)
    slots = asyncio.Semaphore(window)
    tasks: set[asyncio.Task[None]] = set()
    async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=0, logger=quiet, timeout=30) as client:

        async def one(topic: str, payload: bytes, qos: int, retain: bool) -> None:
            try:
                await client.publish(topic, payload, qos, retain, timeout=publish_timeout_s)
            finally:
                slots.release()

        t0 = time.perf_counter()
        for message in messages:
            await slots.acquire()
            task = asyncio.create_task(one(*message))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return time.perf_counter() - t0


async def replay_benchmark(tmp: Path, hours: float, repeat: int = 3) -> dict[str, Any]:
    """The MQTT sink replaying a backlog to mosquitto vs a bare aiomqtt client publishing the same messages."""
    import shutil

    from radsurvey.config import parse_config

    meters, seconds = 8, int(hours * 3600)
    (tmp / "fill").mkdir()
    master = tmp / "fill" / "journal.sqlite"
    top = prefill(master, meters=meters, seconds=seconds, end=time.time() - 60)
    runs = []
    for rep in range(repeat):
        work = tmp / f"r{rep}"
        work.mkdir()
        shutil.copy(master, work / "journal.sqlite")
        mq = Mosquitto(work / "mq")
        mq.start()
        try:
            data = config(work, meters=meters, enabled=False, mqtt={"port": mq.port, "homeassistant": False})
            cfg = parse_config(data, environ={})
            messages = replay_messages(master, cfg)
            # The anchors before and after the sink, their mean the ratio's: the machine's load drifts
            # over the minute a repetition takes (the others' work on the shared cores).
            window = cfg.mqtt.max_inflight
            load_before = os.getloadavg()[0]
            bare_before = await bare_publish(mq.port, messages, window)
            light_before = await bare_publish(mq.port, messages, window, math.inf)
            result = await drain(data, top, "mqtt")
            light_after = await bare_publish(mq.port, messages, window, math.inf)
            bare_after = await bare_publish(mq.port, messages, window)
            load_after = os.getloadavg()[0]
        finally:
            mq.stop()
        shutil.rmtree(work, ignore_errors=True)
        sink_s = result["elapsed_s"] - (result["connected_after_s"] or 0.0)
        bare_s, light_s = (bare_before + bare_after) / 2, (light_before + light_after) / 2
        runs.append(
            {
                "messages": len(messages),
                "bare_client_s": round(bare_s, 2),  # from its CONNACK, like the sink's figure below
                "bare_client_before_after_s": [round(bare_before, 2), round(bare_after, 2)],
                "bare_client_untimed_publish_s": round(light_s, 2),
                "bare_client_untimed_publish_before_after_s": [round(light_before, 2), round(light_after, 2)],
                "sink_s": round(sink_s, 2),
                "sink_start_to_connected_s": result["connected_after_s"],
                "ratio_to_bare_client": round(bare_s / sink_s, 3),
                "ratio_to_bare_client_untimed_publish": round(light_s / sink_s, 3),
                "complete": result["complete"],
                "load_average_1min_before_after": [round(load_before, 2), round(load_after, 2)],
            }
        )
    return {
        "backlog": {"meters": meters, "hours": hours, "rows": top, "qos": 1, "max_inflight": 100},
        "runs": runs,
        "sink_s": _spread([r["sink_s"] for r in runs]),
        "bare_client_s": _spread([r["bare_client_s"] for r in runs]),
        "bare_client_untimed_publish_s": _spread([r["bare_client_untimed_publish_s"] for r in runs]),
        "ratio_to_bare_client": _spread([r["ratio_to_bare_client"] for r in runs]),
        "ratio_to_bare_client_untimed_publish": _spread([r["ratio_to_bare_client_untimed_publish"] for r in runs]),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="a tenth of the backlogs")
    ap.add_argument("--only", help="drain,replay,state")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--repeat", type=int, default=3, help="drain runs per API (min / median reported)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"drain", "replay", "state"}
    scale = 0.1 if args.quick else 1.0
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "quick": args.quick,
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "drain" in only:
            (tmp / "d").mkdir()
            results["drain_24h_8_meters"] = await drain_benchmark(tmp / "d", 24 * scale, args.repeat)
        if "replay" in only:
            (tmp / "r").mkdir()
            results["replay_2h_8_meters"] = await replay_benchmark(tmp / "r", 2 * scale, args.repeat)
        if "state" in only:
            (tmp / "s").mkdir()
            results["state_after_outage_1h_50_meters"] = await state_benchmark(tmp / "s", 1 * scale)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    asyncio.run(main())
