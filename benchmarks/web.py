"""Web console benchmarks: the trend query over 7 days x 8 channels at 1 Hz, and the RSS the console adds.

    .venv/bin/python benchmarks/web.py --out benchmarks/web-results.json
    .venv/bin/python benchmarks/web.py --quick          # 1 day instead of 7, for a smoke run
    .venv/bin/python benchmarks/web.py --only latency   # page and API answer times of a running console

Trend: a journal with 7 days of samples for 8 channels at 1 Hz (4 838 400 sample
rows; every sample's seq leaves a gap for its reading, as in a real journal) is
written once as the journal writer stores it (compact rows, minute/hour aggregates);
then ``trends.trend`` on a fresh read-only connection per query, as the
console answers a request (no cache of ours; the OS's page cache warm as on a
running daemon), is timed for one channel over 1 h, 24 h and 7 d and for all 8
channels' 7-day trends one after another (median of 5). Baseline in the same
run: one channel's 7-day buckets recomputed from the raw samples (median of 3).

RSS: ``radsurvey run`` on a config with 8 simulated meters, 60 s, once without
``[web]`` and once with it, an SSE client connected for the whole run that also
fetches every page (in en and ru) once and then the overview's JSON again and
again; the differences of the peak (VmHWM) and final (VmRSS) resident sets are
what the console adds. No login happens (each scrypt hash briefly takes 16 MiB).
The daemon runs as installed: our modules' bytecode is compiled before the runs
(``compileall``), as pip compiles it at install, so neither
run pays for compiling the source tree at start.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from radsurvey.daemon.journal import connect, migrate, seek, times, trends

CHANNELS = [f"ch{i}" for i in range(8)]


def build_journal(path: Path, days: float) -> tuple[datetime, int]:
    conn = connect(path)
    migrate(conn, path)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    start = end - timedelta(days=days)
    seconds = int(days * 86400)
    rng = random.Random(1)
    seq = 0

    def rows():  # type: ignore[no-untyped-def]
        nonlocal seq
        for s in range(seconds):
            ts = times.text(start + timedelta(seconds=s))
            for ch in CHANNELS:
                seq += 2  # the reading of this sample takes the seq before it
                e = 0.05 + rng.random() * 0.1 + (3.0 if s % 600 < 20 else 0.0)
                yield (seq, ts, ch, "m-" + ch, seq - 1, 5, e * 2, e * 2, 10, 0.1, e * 2, 0, None, e, 2.5, e / 2.5, "4")

    # Stored as the journal writer stores them (compact rows, a reading before each sample), then the
    # minute/hour aggregates computed from them.
    from radsurvey.daemon.journal.aggregates import rebuild
    from radsurvey.daemon.journal.codec import INSERT_EXTRA, INSERT_READING, INSERT_SAMPLE, Encoder

    conn.execute("BEGIN")
    enc = Encoder(conn)
    names = (
        "ts",
        "channel",
        "meter",
        "reading_seq",
        "room_category",
        "value_uGy_h",
        "mean_uGy_h",
        "window_n",
        "background_uGy_h",
        "net_uGy_h",
        "below_background",
        "normalised_uGy_h",
        "effective_uSv_h",
        "limit_uSv_h",
        "ratio",
        "formula",
    )
    readings, samples, extras = [], [], []
    for values in rows():
        row = dict(zip(names, values[1:], strict=True), seq=values[0], corrections="[]")
        reading = {
            "seq": values[0] - 1,
            "ts": row["ts"],
            "meter": row["meter"],
            "value": row["value_uGy_h"],
            "unit": "uGy/h",
            "quantity": "air_kerma_rate",
        }
        readings.append(enc.reading(reading))
        stored, extra = enc.sample(row)
        samples.append(stored)
        if extra:
            extras.append(extra)
        if len(samples) >= 50_000:
            conn.executemany(INSERT_READING, readings)
            conn.executemany(INSERT_SAMPLE, samples)
            conn.executemany(INSERT_EXTRA, extras)
            readings, samples, extras = [], [], []
    conn.executemany(INSERT_READING, readings)
    conn.executemany(INSERT_SAMPLE, samples)
    conn.executemany(INSERT_EXTRA, extras)
    rebuild(conn)
    conn.execute("COMMIT")
    conn.close()
    return end, seconds * len(CHANNELS)


def timed(fn, repeat: int = 5) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_trend(days: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "journal.sqlite"
        t0 = time.perf_counter()
        end, n = build_journal(path, days)
        built_s = time.perf_counter() - t0
        conn = connect(path, readonly=True)
        out: dict[str, object] = {"rows": n, "days": days, "build_s": round(built_s, 1)}
        spans = [("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7))]
        spans = [(name, span) for name, span in spans if span.total_seconds() <= days * 86400]
        # Cold, as the console answers every request: a fresh read-only connection per query (SQLite's
        # page cache empty, the OS's warm as on a running daemon), buckets of a minute or more from the
        # minute/hour aggregates plus the raw samples after them, narrower ones from the raw samples.
        conn.close()

        def cold(channel: str, span: timedelta) -> trends.Trend:
            c = connect(path, readonly=True)
            try:
                return trends.trend(c, channel, end - span, end)
            finally:
                c.close()

        for name, span in spans:
            out[f"{name}_buckets"] = len(cold("ch3", span).buckets)
            out[f"cold_{name}_one_channel_ms"] = round(1000 * timed(lambda s=span: cold("ch3", s)), 1)
        wide_name, wide = spans[-1]

        def all_channels() -> None:
            for ch in CHANNELS:
                cold(ch, wide)

        out[f"cold_{wide_name}_all_8_channels_ms"] = round(1000 * timed(all_channels), 1)
        # Baseline in the same run: the same buckets recomputed from the raw samples of one channel (what the
        # trend cost before the aggregates), through the samples view with 0.1's columns.
        conn = connect(path, readonly=True)
        first = seek.seq_split(conn, times.datetime_to_ms(end - wide), "samples")
        _, prefix = trends.bucket_for(wide.total_seconds())
        out[f"baseline_raw_{wide_name}_one_channel_ms"] = round(
            1000
            * timed(
                lambda: conn.execute(
                    f"SELECT substr(ts, 1, {prefix}) AS b, COUNT(*), MIN(effective_uSv_h), AVG(effective_uSv_h),"
                    " MAX(effective_uSv_h) FROM samples WHERE channel = 'ch3' AND seq >= ? GROUP BY b",
                    (first,),
                ).fetchall(),
                repeat=3,
            ),
            1,
        )
        conn.close()
    return out


CONFIG = """
[site]
id = "bench"
[journal]
path = "{journal}"
{meters}
{web}
"""


def _rss_kb(pid: int) -> tuple[int, int]:
    """(peak, current) resident set of ``pid`` in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmHWM:", "VmRSS:")):
            fields[line.split(":")[0]] = int(line.split()[1])
    return fields.get("VmHWM", 0), fields.get("VmRSS", 0)


PAGES = ("/", "/?lang=ru", "/kiosk", "/alarms", "/surveys", "/channels/c1", "/api/channels/c1/trend?range=7d")


def installed_env() -> dict[str, str]:
    """The daemon's environment as installed: our modules' bytecode compiled beforehand (pip does that at
    install), not recompiled at each start; compiling a module from source leaves megabytes of freed heap."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # __pycache__ beside the sources, as for the installed libraries
    root = Path(trends.__file__).resolve().parents[2]
    dirs = [str(root / d) for d in ("daemon", "drivers", "protocols", "config") if (root / d).is_dir()]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], env=env, check=True, stdout=subprocess.DEVNULL)
    return env


def start_daemon(tmp: Path, port: int | None, name: str) -> subprocess.Popen[bytes]:
    """``radsurvey run`` as installed on 8 simulated meters, with the console on ``port`` unless None."""
    meters = ""
    for i in range(8):
        meters += (
            f'[[meters]]\nid = "m{i}"\ndriver = "simulated"\nseed = {i}\n'
            f'[[channels]]\nid = "c{i}"\nmeter = "m{i}"\nroom_category = 5\n'
        )
    web_cfg = f'[web]\nlisten = "127.0.0.1:{port}"\n' if port is not None else ""
    cfg = tmp / f"bench-{name}.toml"
    cfg.write_text(CONFIG.format(journal=tmp / f"j-{name}.sqlite", meters=meters, web=web_cfg))
    exe = Path(sys.executable).with_name("radsurvey")
    return subprocess.Popen(
        [str(exe), "run", "--config", str(cfg), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=installed_env(),
    )


def run_daemon(tmp: Path, web: bool, seconds: float) -> tuple[int, int]:
    port = 18000 + os.getpid() % 1000
    proc = start_daemon(tmp, port if web else None, str(web))
    try:
        deadline = time.monotonic() + seconds
        stream = None
        while web and stream is None and time.monotonic() < deadline:
            try:
                stream = urllib.request.urlopen(f"http://127.0.0.1:{port}/api/events", timeout=5)
            except OSError:
                time.sleep(0.5)
        n = 0
        while time.monotonic() < deadline:
            if stream is not None:
                stream.read1(65536)  # type: ignore[attr-defined]
                # every page in both languages, then the overview's JSON, as a few open browsers would
                path = PAGES[n] if n < len(PAGES) else "/api/overview"
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10).read()
                n += 1
            else:
                time.sleep(0.5)
        return _rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_rss(seconds: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        without = run_daemon(Path(tmp), False, seconds)
        with_web = run_daemon(Path(tmp), True, seconds)
    return {
        "seconds": seconds,
        "rss_peak_without_web_mb": round(without[0] / 1024, 1),
        "rss_peak_with_web_mb": round(with_web[0] / 1024, 1),
        "rss_peak_added_by_web_mb": round((with_web[0] - without[0]) / 1024, 1),
        "rss_at_end_without_web_mb": round(without[1] / 1024, 1),
        "rss_at_end_with_web_mb": round(with_web[1] / 1024, 1),
        "rss_at_end_added_by_web_mb": round((with_web[1] - without[1]) / 1024, 1),
    }


LATENCY_PATHS = (
    "/",
    "/?lang=ru",
    "/api/overview",
    "/channels/c1",
    "/api/channels/c1/trend?range=1h",
    "/alarms",
    "/api/alarms",
    "/surveys",
    "/login",
    "/static/console.js",
)


def bench_latency(rounds: int) -> dict[str, object]:
    """Page and API answer times of a running console (8 simulated meters): a new connection per request, as
    urllib makes it, ``rounds`` times each after one warm-up; and the time to an event stream's first event."""
    import statistics as st

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = 19000 + os.getpid() % 1000
        proc = start_daemon(tmp, port, "latency")
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/api/overview", timeout=5).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            for path in LATENCY_PATHS:
                urllib.request.urlopen(base + path, timeout=10).read()  # templates compiled, catalogues loaded
            times_ms: dict[str, list[float]] = {p: [] for p in (*LATENCY_PATHS, "/api/events (first event)")}
            for _ in range(rounds):
                for path in LATENCY_PATHS:
                    t0 = time.perf_counter()
                    urllib.request.urlopen(base + path, timeout=10).read()
                    times_ms[path].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                with urllib.request.urlopen(base + "/api/events", timeout=10) as stream:
                    seen = b""
                    while b"\n\n" not in seen:
                        seen += stream.read1(65536)  # type: ignore[attr-defined]
                times_ms["/api/events (first event)"].append((time.perf_counter() - t0) * 1000)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {
        "rounds": rounds,
        "ms": {
            p: {"median": round(st.median(v), 2), "p90": round(sorted(v)[int(0.9 * (len(v) - 1))], 2)}
            for p, v in times_ms.items()
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--only", default="trend,rss")
    args = ap.parse_args()
    results: dict[str, object] = {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version}
    if "trend" in args.only:
        results["trend"] = bench_trend(1 if args.quick else 7)
    if "rss" in args.only:
        results["rss"] = bench_rss(15 if args.quick else 60)
    if "latency" in args.only:
        results["latency"] = bench_latency(20 if args.quick else 100)
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
