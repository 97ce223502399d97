"""Journal benchmarks: bytes per reading+sample on disk, SD-card writes per hour, migration rate.

    .venv/bin/python benchmarks/journal.py [--quick] [--only size,wear,migration] [--out FILE]

Not part of the test run; see benchmarks/README.md ("Journal") for the figures and how they are made.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from run import RADSURVEY, base_config, write_toml  # noqa: E402

from tests.servers import Mosquitto, VictoriaMetrics  # noqa: E402


def used_bytes(path: Path) -> int:
    """Bytes the checkpointed database file holds in used pages (free pages left out)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page)
    finally:
        conn.close()


async def bytes_per_row(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, hours: float) -> dict:
    """8 meters x 1 Hz for ``hours`` of simulated time through the real pipeline, journal and both sinks."""
    from radsurvey.config import parse_config
    from radsurvey.daemon.journal import Journal
    from radsurvey.daemon.sinks import build_services
    from radsurvey.daemon.supervisor import Daemon
    from radsurvey.drivers.base import Conversion, Quantity, Reading

    tmp.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - set-up, before anything is timed
    meters = 8
    data = base_config(tmp, mqtt_port=mq.port, influx_url=vm.url, meters=meters, poll_s=1, enabled=False)
    cfg = parse_config(data, environ={})
    journal = Journal(cfg.journal.path, commit_interval_s=1.0, batch_size=5000)
    journal.flush()
    empty = used_bytes(Path(cfg.journal.path))
    daemon = Daemon(cfg, journal, services=build_services(cfg))
    task = asyncio.create_task(daemon.run())
    sinks = [s for s in daemon.services if s.name in ("mqtt", "influxdb")]
    await asyncio.sleep(1.0)
    seconds = int(hours * 3600)
    start = datetime.now(UTC) - timedelta(seconds=seconds + 10)
    n = 0
    for s in range(seconds):
        for m in range(meters):
            value = round(0.2 + ((s * 7 + m * 13) % 17) * 0.003, 6)
            on = "off"
            daemon.on_reading(
                Reading(
                    meter=f"m{m}",
                    ts=start + timedelta(seconds=s, milliseconds=m * 7),
                    value=value,
                    unit="uGy/h",
                    quantity=Quantity.AIR_KERMA_RATE,
                    raw=f"{s}:{value:.6f}:{on}".encode(),
                    conversions=(Conversion("simulated", detail=f"seed={m} beam={on}"),),
                    meter_value=value,
                )
            )
            n += 1
        if s % 50 == 49:
            await asyncio.sleep(0)
    await journal.aflush()
    top = journal.committed_seq
    deadline = time.monotonic() + 600
    while any(s.cursor < top for s in sinks) and time.monotonic() < deadline:  # type: ignore[attr-defined]  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    acked = all(s.cursor >= top for s in sinks)  # type: ignore[attr-defined]
    daemon.stop_event.set()
    await task
    await asyncio.to_thread(journal.close)
    total = used_bytes(Path(cfg.journal.path))
    return {
        "readings": n,
        "samples": n,
        "meters": meters,
        "both_sinks_acknowledged": acked,
        "journal_bytes_checkpointed": total,
        "empty_journal_bytes": empty,
        "bytes_per_reading_and_sample": round((total - empty) / n, 1),
    }


def sd_wear(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, seconds: float) -> dict:
    """write_bytes of ``radsurvey run`` (8 simulated meters at 1 Hz, both sinks, default commit interval)."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = base_config(tmp, mqtt_port=mq.port, influx_url=vm.url, meters=8, poll_s=1.0)
    data["journal"] = {"path": data["journal"]["path"]}  # the defaults: commit interval, batch size
    cfg = write_toml(tmp / "wear.toml", data)
    proc = subprocess.Popen(
        [RADSURVEY, "run", "--config", str(cfg), "--duration", str(seconds + 10)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def written() -> int:
        for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
        raise RuntimeError("no write_bytes in /proc/<pid>/io")

    time.sleep(8)  # start-up (migrations, first checkpoint) is not the steady state
    w0, t0 = written(), time.perf_counter()
    time.sleep(seconds)
    w1, t1 = written(), time.perf_counter()
    proc.wait(60)
    per_hour = (w1 - w0) / (t1 - t0) * 3600
    return {
        "meters": 8,
        "poll_interval_s": 1.0,
        "commit_interval_s": "default",
        "measured_s": round(t1 - t0, 1),
        "write_bytes_per_hour": round(per_hour),
        "mb_per_day": round(per_hour * 24 / 1e6, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="size,wear,migration")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    only = set(args.only.split(","))
    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds")}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mq, vm = Mosquitto(tmp / "mq"), VictoriaMetrics(tmp / "vm")
        mq.start()
        vm.start()
        try:
            if "size" in only:
                hours = 0.25 if args.quick else 1.0
                results["bytes_per_reading_and_sample"] = asyncio.run(bytes_per_row(tmp / "s", mq, vm, hours))
            if "wear" in only:
                results["sd_wear"] = sd_wear(tmp / "w", mq, vm, 60 if args.quick else 300)
            if "migration" in only and "migration_rate" in globals():
                results["migration"] = migration_rate(tmp / "m", 100_000 if args.quick else 1_000_000)  # noqa: F821
        finally:
            mq.stop()
            vm.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
