"""Journal benchmarks: bytes per reading+sample on disk, SD-card writes per hour, migration rate.

    .venv/bin/python benchmarks/journal.py [--quick] [--only size,wear,wear-table,migration] [--out FILE]

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


def sd_wear(tmp: Path, mq: Mosquitto, vm: VictoriaMetrics, seconds: float, commit_interval_s: float | None) -> dict:
    """write_bytes of ``radsurvey run`` (8 simulated meters at 1 Hz, both sinks; None: the default commit interval)."""
    tmp.mkdir(parents=True, exist_ok=True)
    data = base_config(tmp, mqtt_port=mq.port, influx_url=vm.url, meters=8, poll_s=1.0)
    data["journal"] = {"path": data["journal"]["path"]}  # the defaults: commit interval, batch size
    if commit_interval_s is not None:
        data["journal"]["commit_interval_s"] = commit_interval_s
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
        "commit_interval_s": commit_interval_s or "default (1.0)",
        "measured_s": round(t1 - t0, 1),
        "write_bytes_per_hour": round(per_hour),
        "mb_per_day": round(per_hour * 24 / 1e6, 1),
    }


def make_v01_journal(path: Path, n: int) -> None:
    """A journal as 0.1 wrote it (schema 1-4, text timestamps, JSON per row): 8 meters at 1 Hz, n readings."""
    from radsurvey.daemon.journal.schema import MIGRATIONS

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, description TEXT NOT NULL)"
    )
    for version, description, sql in MIGRATIONS[:4]:
        assert isinstance(sql, str)
        conn.execute("BEGIN")
        for statement in sql.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, '2026-01-01T00:00:00.000Z', ?)", (version, description))
        conn.execute("COMMIT")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    conversions = '[{"name":"simulated","detail":"seed=%d beam=off"}]'
    corrections = '[{"name":"background","subtracted_uGy_h":0.1}]'
    seq = 0
    conn.execute("BEGIN")
    for i in range(n):
        m = i % 8
        ts = (start + timedelta(seconds=i // 8, milliseconds=m * 7)).isoformat(timespec="milliseconds")
        ts = ts.replace("+00:00", "Z")
        value = round(0.2 + (i % 17) * 0.003, 6)
        mean = value
        net = max(mean - 0.1, 0.0)
        e = 0.5 * net
        conn.execute(
            "INSERT INTO readings VALUES (?, ?, ?, ?, 'uGy/h', 'air_kerma_rate', '[]', ?, ?, ?)",
            (seq + 1, ts, f"m{m}", value, f"{i}:{value:.6f}:off".encode(), conversions % m, value),
        )
        conn.execute(
            "INSERT INTO samples VALUES (?, ?, ?, ?, ?, 1, ?, ?, 1, 0.1, ?, ?, NULL, ?, 13.0, ?, '4', ?)",
            (seq + 2, ts, f"c{m}", f"m{m}", seq + 1, value, mean, net, int(mean - 0.1 < 0), e, e / 13.0, corrections),
        )
        seq += 2
        if i % 50_000 == 49_999:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("INSERT INTO sink_cursors VALUES ('mqtt', ?, '2026-01-01T00:00:00.000Z', 0, '', NULL)", (seq,))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def migration_rate(tmp: Path, n: int) -> dict:
    from radsurvey.daemon.journal import connect, migrate

    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "v01.sqlite"
    make_v01_journal(path, n)
    before = used_bytes(path)
    conn = connect(path)
    t0 = time.perf_counter()
    migrate(conn, path)
    elapsed = time.perf_counter() - t0
    conn.execute("VACUUM")  # what the migration freed is reused by new rows anyway; VACUUM shows the size now
    conn.close()
    after = used_bytes(path)
    return {
        "readings": n,
        "samples": n,
        "migrate_s": round(elapsed, 2),
        "readings_and_samples_per_s": round(n / elapsed),
        "bytes_before": before,
        "bytes_after_vacuum": after,
        "bytes_per_reading_and_sample_before": round(before / n, 1),
        "bytes_per_reading_and_sample_after": round(after / n, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="size,wear,migration")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--intervals", default="1,5,10,30,60", help="commit intervals (s) for --only wear-table")
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
                seconds = 60 if args.quick else 240
                results["sd_wear"] = sd_wear(tmp / "w", mq, vm, seconds, None)
                results["sd_wear_commit_5s"] = sd_wear(tmp / "w5", mq, vm, seconds, 5.0)
            if "wear-table" in only:  # docs/raspberry-pi.md's trade-off table
                runs = [sd_wear(tmp / f"wt{i}", mq, vm, 180, float(i)) for i in args.intervals.split(",")]
                results["sd_wear_by_commit_interval"] = {"runs": runs}
            if "migration" in only:
                results["migration"] = migration_rate(tmp / "m", 100_000 if args.quick else 1_000_000)
        finally:
            mq.stop()
            vm.stop()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
