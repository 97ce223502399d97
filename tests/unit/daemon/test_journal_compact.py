"""Compact rows give back exactly what was appended; the aggregates agree exactly with the raw rows."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radsurvey.daemon.journal import Journal

T0 = datetime(2025, 12, 31, 23, 58, 30, tzinfo=UTC)  # a year, an hour and minutes turn over in the data
finite = st.floats(min_value=-1e6, max_value=1e9, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def reading_row(t: datetime, meter: str, value: float, **kw: Any) -> dict[str, Any]:
    row = {"ts": iso(t), "meter": meter, "value": value, "unit": "uGy/h", "quantity": "air_kerma_rate"}
    row.update(kw)
    return row


def sample_row(
    t: datetime,
    channel: str,
    reading_seq: int,
    value: float,
    mean: float,
    bg: float,
    nrm: float | None,
    limit: float,
    **over: Any,
) -> dict[str, Any]:
    diff = mean - bg
    net = max(diff, 0.0)
    e = 0.5 * (nrm if nrm is not None else net)
    row = {
        "ts": iso(t),
        "channel": channel,
        "meter": "m" + channel,
        "reading_seq": reading_seq,
        "room_category": 1,
        "value_uGy_h": value,
        "mean_uGy_h": mean,
        "window_n": 3,
        "background_uGy_h": bg,
        "net_uGy_h": net,
        "below_background": int(diff < 0),
        "normalised_uGy_h": nrm,
        "effective_uSv_h": e,
        "limit_uSv_h": limit,
        "ratio": e / limit,
        "formula": "4",
        "corrections": json.dumps([{"name": "background", "subtracted_uGy_h": bg}]),
    }
    row.update(over)
    return row


sample_case = st.fixed_dictionaries(
    {
        "value": finite,
        "same_value": st.booleans(),
        "mean": finite,
        "mean_is_value": st.booleans(),
        "bg": st.sampled_from([0.0, 0.1, 0.25]),
        "nrm": st.none() | finite,
        "limit": positive,
        "meter_value": st.none() | finite,
        "raw": st.binary(max_size=20),
        "status": st.sampled_from(["[]", '["over_range"]']),
        # values that do not follow the pipeline's arithmetic must come back as stored, too
        "override": st.none()
        | st.fixed_dictionaries({"net_uGy_h": finite})
        | st.fixed_dictionaries({"ratio": finite})
        | st.fixed_dictionaries({"effective_uSv_h": finite})
        | st.fixed_dictionaries({"below_background": st.sampled_from([0, 1])})
        | st.fixed_dictionaries({"ts": st.just("2030-01-01T00:00:00.001Z")}),
        "gap_ms": st.integers(min_value=0, max_value=200_000),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sample_case, min_size=1, max_size=25))
def test_readings_and_samples_come_back_value_for_value(cases: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "j.sqlite"
        expected_r: dict[int, dict[str, Any]] = {}
        expected_s: dict[int, dict[str, Any]] = {}
        with Journal(path, commit_interval_s=0.01) as j:
            t = T0
            for c in cases:
                t += timedelta(milliseconds=c["gap_ms"])
                reading_value = c["value"] if c["same_value"] else c["value"] * 2 + 1
                r = reading_row(t, "m", reading_value, meter_value=c["meter_value"], raw=c["raw"], status=c["status"])
                rseq = j.append("readings", r)
                expected_r[rseq] = r
                mean = c["value"] if c["mean_is_value"] else c["mean"]
                s = sample_row(t, "a", rseq, c["value"], mean, c["bg"], c["nrm"], c["limit"], **(c["override"] or {}))
                expected_s[j.append("samples", s)] = s
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row
        for seq, row in expected_r.items():
            got = dict(conn.execute("SELECT * FROM readings WHERE seq = ?", (seq,)).fetchone())
            want = {"status": "[]", "raw": b"", "conversions": "[]", "meter_value": None, **row, "seq": seq}
            assert got == want
        for seq, row in expected_s.items():
            got = dict(conn.execute("SELECT * FROM samples WHERE seq = ?", (seq,)).fetchone())
            assert got == {**row, "seq": seq}


def reference_aggregates(conn: sqlite3.Connection) -> dict[str, dict[tuple[str, int], tuple[Any, ...]]]:
    """Recompute every bucket from the raw rows alone (samples and alarm events in seq order)."""
    # E of the dose: formula 4 on the measured net rate, also where the sample's E is normalised
    events = [
        ("s", r[0], r[1], r[2], 0.5 * r[3]) for r in conn.execute("SELECT seq, channel, ts, net_uGy_h FROM samples")
    ]
    events += [
        ("a", r[0], r[1], r[2], r[3]) for r in conn.execute("SELECT seq, channel, rule, state FROM alarm_events")
    ]
    events.sort(key=lambda e: e[1])
    rank = {"normal": 0, "warning": 1, "alarm": 2, "fault": 2}
    levels: dict[str, dict[str, int]] = {}
    last: dict[str, int] = {}
    out: dict[str, dict[tuple[str, int], list[Any]]] = {"agg_minute": {}, "agg_hour": {}, "dose_year": {}}
    for kind, _seq, channel, a, b in events:
        if kind == "a":
            levels.setdefault(channel, {})[a] = rank[b]
            lvl = max(levels[channel].values())
            for buckets in out.values():
                current = [k for k in buckets if k[0] == channel]
                if current:
                    key = max(current, key=lambda k: buckets[k][-1])
                    buckets[key][6] = max(buckets[key][6], lvl)
            continue
        dt_ = datetime.fromisoformat(a.replace("Z", "+00:00"))
        t = round(dt_.timestamp() * 1000)
        e = b
        prev = last.get(channel)
        gap = min(t - prev, 60_000) if prev is not None and t > prev else 0
        lvl = max(levels.get(channel, {}).values(), default=0)
        keys = {"agg_minute": t - t % 60_000, "agg_hour": t - t % 3_600_000, "dose_year": dt_.year}
        for tier, key in keys.items():
            bucket = out[tier].setdefault((channel, key), [0, e, 0.0, e, 0.0, 0, lvl, t])
            bucket[0] += 1
            bucket[1] = min(bucket[1], e)
            bucket[2] += e
            bucket[3] = max(bucket[3], e)
            bucket[4] += e * gap / 3_600_000
            bucket[5] += gap
            bucket[6] = max(bucket[6], lvl)
            bucket[7] = max(bucket[7], t)
        if prev is None or t > prev:
            last[channel] = t
    return {tier: {k: tuple(v) for k, v in b.items()} for tier, b in out.items()}


def stored_aggregates(conn: sqlite3.Connection) -> dict[str, dict[tuple[str, int], tuple[Any, ...]]]:
    out = {}
    for tier, key in (("agg_minute", "start_ms"), ("agg_hour", "start_ms"), ("dose_year", "year")):
        out[tier] = {
            (r[0], r[1]): tuple(r[2:])
            for r in conn.execute(
                f"SELECT c.name, a.{key}, a.n, a.e_min, a.e_sum, a.e_max, a.dose_uSv, a.covered_ms, a.alarm, a.last_ms"
                f" FROM {tier} a JOIN channels c ON c.id = a.channel"
            )
        }
    return out


def alarm_row(t: datetime, channel: str, rule: str, state: str) -> dict[str, Any]:
    return {
        "ts": iso(t),
        "channel": channel,
        "rule": rule,
        "kind": "instant",
        "event": "change",
        "state": state,
        "previous": "normal",
        "value": 1.0,
        "level": 1.0,
        "unit": "uSv/h",
        "since": iso(t),
    }


def test_aggregates_equal_a_recomputation_from_the_raw_rows_across_restarts(tmp_path: Path) -> None:
    import random

    rnd = random.Random(7)
    path = tmp_path / "j.sqlite"
    t = {"a": T0, "b": T0 + timedelta(milliseconds=300)}
    states = ["normal", "warning", "alarm", "normal", "fault", "normal"]
    for run in range(3):  # the daemon restarts twice; open buckets continue
        with Journal(path, commit_interval_s=0.005, batch_size=37) as j:
            for i in range(400):
                ch = "a" if rnd.random() < 0.6 else "b"
                step = rnd.choice([1000, 1000, 250, 0, 90_000, -500])  # gaps over 60 s, repeats, out of order
                t[ch] += timedelta(milliseconds=step)
                value = rnd.uniform(0, 30)
                rseq = j.append("readings", reading_row(t[ch], "m" + ch, value))
                nrm = value * 3.7 if ch == "b" else None  # b normalises to a standard workload
                j.append("samples", sample_row(t[ch], ch, rseq, value, value, 0.1, nrm, 13.0))
                if i % 97 == 5:
                    j.append(
                        "alarm_events", alarm_row(t[ch], ch, rnd.choice(["instant", "twa"]), states[(i + run) % 6])
                    )
    conn = sqlite3.connect(path)
    expected, got = reference_aggregates(conn), stored_aggregates(conn)
    assert {k: len(v) for k, v in got.items()} == {k: len(v) for k, v in expected.items()}
    assert got == expected
    years = {k[1] for k in got["dose_year"]}
    assert years == {2025, 2026}, "the data spans a new year: two dose records per channel"


def test_after_a_crash_the_aggregates_are_completed_from_the_raw_rows(tmp_path: Path) -> None:
    """Buckets are written once a minute; a crash in between loses nothing: the next start folds the rest in."""
    import shutil

    path, crashed = tmp_path / "j.sqlite", tmp_path / "crashed.sqlite"
    j = Journal(path, commit_interval_s=0.005)
    try:
        t = T0
        for i in range(300):
            t += timedelta(seconds=1)
            rseq = j.append("readings", reading_row(t, "ma", 0.1 * (i % 9)))
            j.append("samples", sample_row(t, "a", rseq, 0.1 * (i % 9), 0.1 * (i % 9), 0.0, None, 13.0))
            if i == 150:
                j.append("alarm_events", alarm_row(t, "a", "instant", "alarm"))
        assert j.flush()
        on_disk = sqlite3.connect(path).execute("SELECT COALESCE(SUM(n), 0) FROM agg_minute").fetchone()[0]
        assert on_disk < 300, "the open minutes are not on disk yet"
        # the state a power cut leaves: the database and its WAL as committed
        shutil.copy(path, crashed)
        shutil.copy(f"{path}-wal", f"{crashed}-wal")
    finally:
        j.close()
    Journal(crashed).close()
    conn = sqlite3.connect(crashed)
    assert stored_aggregates(conn) == reference_aggregates(conn)
    assert conn.execute("SELECT SUM(n) FROM dose_year").fetchone()[0] == 300


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("sample"), st.integers(1, 3), st.integers(0, 200_000), st.floats(0, 100)),
            st.tuples(
                st.just("alarm"),
                st.integers(1, 3),
                st.sampled_from(["a", "b"]),
                st.sampled_from(["normal", "warning", "alarm"]),
            ),
        ),
        max_size=30,
    ),
    st.integers(0, 30),
)
@settings(max_examples=60, deadline=None)
def test_a_rolled_back_commit_leaves_the_aggregates_as_they_were(ops: list[tuple], split: int) -> None:
    """The writer folds a commit into a snapshot and keeps it only on success: the original must not change."""
    from radsurvey.daemon.journal.aggregates import Aggregator

    conn = sqlite3.connect(":memory:")
    for tier, key in (("agg_minute", "start_ms"), ("agg_hour", "start_ms"), ("dose_year", "year")):
        conn.execute(
            f"CREATE TABLE {tier}(channel, {key}, n, e_min, e_sum, e_max, dose_uSv, covered_ms, alarm, last_ms)"
        )
    conn.execute("CREATE TABLE agg_meta(id PRIMARY KEY, seq)")

    def apply(agg: Aggregator, batch: list[tuple]) -> None:
        for op in batch:
            if op[0] == "sample":
                agg.sample(conn, op[1], 1_700_000_000_000 + op[2], op[3])
            else:
                agg.alarm(op[1], op[2], op[3])

    before = Aggregator()
    apply(before, ops[:split])
    state = repr(before)
    trial = before.snapshot()
    apply(trial, ops[split:])
    trial.write(conn)
    assert repr(before) == state
