"""The console's trends come straight from the journal (no cache): every range, as the journal answers it
from its minute/hour aggregates plus the raw samples after them, equals a recomputation from the raw samples."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from radsurvey.daemon.journal import connect, times
from radsurvey.daemon.journal import trends as jq

from .test_journal_query import T0, at, journal_with


def recomputed(path: Path, channel: str, start: datetime, end: datetime, width: int) -> list[tuple]:  # type: ignore[type-arg]
    """(bucket start, n, min, mean, max) of E from the raw sample rows, bucketed here in Python."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT ts, effective_uSv_h FROM samples WHERE channel = ? ORDER BY seq", (channel,))
        by: dict[str, list[float]] = {}
        lo = jq.floor_to(start, width)
        for ts, e in rows:
            t = times.parse(ts)
            if lo <= t < end:
                by.setdefault(times.text(jq.floor_to(t, width)), []).append(e)
    finally:
        conn.close()
    return [(k, len(v), min(v), sum(v) / len(v), max(v)) for k, v in sorted(by.items())]


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 2 days at one sample per 20 s, two channels interleaved, values that differ in every bucket
    tmp = tmp_path_factory.mktemp("trends")
    rows = [(ch, ((s * 7 + k) % 997) / 10.0, at(s)) for s in range(0, 2 * 86400, 20) for k, ch in enumerate("ab")]
    journal_with(tmp, rows).close()
    return tmp / "j.sqlite"


def test_the_journal_holds_aggregates_so_wide_trends_do_not_read_the_raw_rows(two_days: Path) -> None:
    conn = sqlite3.connect(two_days)
    try:
        assert conn.execute("SELECT COUNT(*) FROM agg_minute").fetchone()[0] >= 2 * 1440
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("end_s", "span"),
    [
        (2 * 86400, timedelta(hours=1)),  # 10 s buckets: raw rows
        (86400 + 3 * 3600 + 11, timedelta(hours=6)),  # 60 s buckets: minute aggregates, an open bucket at the end
        (2 * 86400 - 1, timedelta(days=1)),
        (2 * 86400, timedelta(days=2)),  # 600 s buckets
        (86400 + 601, timedelta(days=1, hours=5)),
        (2 * 86400 - 1234, timedelta(days=2)),  # ... ending inside a minute: no sample after the end counts
        (2 * 86400 + 3600, timedelta(days=7)),  # more than the journal holds, an hour past its end
        (2 * 86400 - 1801, timedelta(days=30)),  # hour buckets, ending inside an hour and a minute
        (86400 + 7199, timedelta(days=20)),
    ],
)
def test_trends_equal_the_raw_samples_recomputed(two_days: Path, end_s: int, span: timedelta) -> None:
    end = T0 + timedelta(seconds=end_s)
    conn = connect(two_days, readonly=True)
    try:
        for channel in ("a", "b"):
            tr = jq.trend(conn, channel, end - span, end)
            want = recomputed(two_days, channel, end - span, end, tr.bucket_s)
            assert [b[0] for b in tr.buckets] == [w[0] for w in want], (channel, span)
            for got, exp in zip(tr.buckets, want, strict=True):
                assert got[1:3] == exp[1:3] and got[4] == exp[4], (channel, got, exp)
                assert got[3] == pytest.approx(exp[3], rel=1e-12), (channel, got, exp)
    finally:
        conn.close()
