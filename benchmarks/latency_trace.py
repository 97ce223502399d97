"""``radsurvey run`` with a per-stage time stamp of every reading (benchmark only; run.py ``--trace``).

    python benchmarks/latency_trace.py TRACE.json run --config ... --duration ...

Wraps, from outside, the steps a reading takes from its line to the broker, and
writes at exit when each reading (by seq) reached each step (wall clock, the
benchmark's clock for the pty write and the subscriber):

* ``append``: the journal queued it (``Journal.append_reading``: the driver's line parsed, on the loop)
* ``commit``: the writer's commit holding it returned (writer thread)
* ``read``: the MQTT sink's page read holding it returned (the sinks' reader thread)
* ``submit``: the sink handed its page to the publisher (loop)
* ``publish``: aiomqtt's ``publish`` of its message started, i.e. paho sent it (loop)

and, beside them: every garbage collection's generation and duration, and the
event loop's stalls (a task asking to sleep 1 ms, late by more than 3 ms).
Nothing of this is in the daemon: it is the same code as ``radsurvey run``.
"""

from __future__ import annotations

import asyncio
import atexit
import bisect
import gc
import json
import os
import re
import sys
import threading
import time
from pathlib import Path

from radsurvey.daemon.journal import writer
from radsurvey.daemon.sinks import mqtt as mqtt_sink
from radsurvey.daemon.sinks.base import CursorSink

out_path = Path(sys.argv.pop(1))
now = time.time
appends: dict[int, float] = {}
commits: list[tuple[int, float, float]] = []  # (top seq, start, end)
reads: list[tuple[int, int, float, float]] = []  # (after, upto, start, end)
submits: list[tuple[int, int, float]] = []  # (first seq, last seq, time)
publishes: dict[int, float] = {}
gcs: list[tuple[int, float, float]] = []  # (generation, start, duration s)
stalls: list[tuple[float, float]] = []  # (time, late by s)

_append_reading = writer.Journal.append_reading


def append_reading(self, reading):  # type: ignore[no-untyped-def]
    t = now()
    seq = _append_reading(self, reading)
    appends[seq] = t
    return seq


_commit = writer.Journal._commit


def commit(self, rows, **kw):  # type: ignore[no-untyped-def]
    t = now()
    ok = _commit(self, rows, **kw)
    if ok and rows:
        top = max(
            (r[1]["seq"] for r in rows if isinstance(r, tuple) and isinstance(r[1], dict) and "seq" in r[1]), default=0
        )
        if top:
            commits.append((top, t, now()))
    return ok


_read = CursorSink._read


def read(self, after_seq):  # type: ignore[no-untyped-def]
    t = now()
    page, prepared = _read(self, after_seq)
    if self.name == "mqtt":
        reads.append((after_seq, page.upto, t, now()))
    return page, prepared


_ack_all = CursorSink._acknowledge_all
ack_waits: list[tuple[float, float]] = []  # (start, s) of the MQTT sink's waits for every PUBACK


async def ack_all(self, unacked):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    try:
        return await _ack_all(self, unacked)
    finally:
        if self.name == "mqtt":
            ack_waits.append((now(), time.perf_counter() - t))


CursorSink._acknowledge_all = ack_all  # type: ignore[method-assign]

_deliver = mqtt_sink.MqttSink._deliver


async def deliver(self, rows, prepared=None):  # type: ignore[no-untyped-def]
    if rows:
        submits.append((rows[0].seq, rows[-1].seq, now()))
    return await _deliver(self, rows, prepared)


SEQ = re.compile(rb'"seq":\s*(\d+)')
_publish = mqtt_sink.aiomqtt.Client.publish


async def publish(self, topic, payload=None, *args, **kw):  # type: ignore[no-untyped-def]
    if topic.endswith("/reading") and isinstance(payload, bytes):
        m = SEQ.search(payload)
        if m:
            publishes[int(m.group(1))] = now()
    return await _publish(self, topic, payload, *args, **kw)


if os.environ.get("BENCH_NODELAY"):
    import socket

    _init = mqtt_sink.aiomqtt.Client.__init__

    def init(self, *args, **kw):  # type: ignore[no-untyped-def]
        kw["socket_options"] = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)
        _init(self, *args, **kw)

    mqtt_sink.aiomqtt.Client.__init__ = init  # type: ignore[method-assign]

writer.Journal.append_reading = append_reading  # type: ignore[method-assign]
writer.Journal._commit = commit  # type: ignore[method-assign]
CursorSink._read = read  # type: ignore[method-assign]
mqtt_sink.MqttSink._deliver = deliver  # type: ignore[method-assign]
mqtt_sink.aiomqtt.Client.publish = publish  # type: ignore[method-assign]

_gc_start = [0.0]


def on_gc(phase: str, info: dict) -> None:
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    else:
        gcs.append((info["generation"], now(), time.perf_counter() - _gc_start[0]))


gc.callbacks.append(on_gc)

_run = asyncio.run


def run(main, **kw):  # type: ignore[no-untyped-def]
    async def with_watch():  # type: ignore[no-untyped-def]
        async def watch() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.001)
                late = time.perf_counter() - t - 0.001
                if late > 0.003:
                    stalls.append((now(), late))

        w = asyncio.ensure_future(watch())
        try:
            return await main
        finally:
            w.cancel()

    return _run(with_watch(), **kw)


asyncio.run = run


def dump() -> None:
    commits.sort()
    tops = [c[0] for c in commits]
    reads_sorted = sorted(reads, key=lambda r: r[1])
    uptos = [r[1] for r in reads_sorted]
    submits.sort()
    firsts = [s[0] for s in submits]
    per_seq = {}
    for seq, t in appends.items():
        row: dict[str, float | None] = {"append": t, "commit": None, "read": None, "submit": None}
        i = bisect.bisect_left(tops, seq)
        if i < len(tops):
            row["commit"] = commits[i][2]
        j = bisect.bisect_left(uptos, seq)
        while j < len(reads_sorted) and reads_sorted[j][0] >= seq:  # a page that starts after it (none)
            j += 1
        if j < len(reads_sorted) and reads_sorted[j][0] < seq:
            row["read_start"] = reads_sorted[j][2]
            row["read"] = reads_sorted[j][3]
        k = bisect.bisect_right(firsts, seq) - 1
        if k >= 0 and submits[k][1] >= seq:
            row["submit"] = submits[k][2]
        row["publish"] = publishes.get(seq)
        per_seq[seq] = row
    out_path.write_text(
        json.dumps(
            {
                "switch_interval_s": sys.getswitchinterval(),
                "gc_threshold": gc.get_threshold(),
                "gc_frozen": gc.get_freeze_count(),
                "per_seq": per_seq,
                "gc": gcs,
                "stalls": stalls,
                "ack_waits": ack_waits,
                "commits": len(commits),
                "reads": len(reads),
            }
        )
    )


atexit.register(dump)
threading.excepthook = threading.excepthook

from radsurvey.daemon.cli import main  # noqa: E402

sys.exit(main())
