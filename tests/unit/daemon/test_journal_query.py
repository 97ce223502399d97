"""Trend buckets and ranges read from the journal (daemon/journal/trends.py), and the seq bisection under them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from radsurvey.daemon.journal import Journal, connect, seek, times
from radsurvey.daemon.journal import trends as jq

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def journal_with(tmp_path: Path, rows: list[tuple[str, float, str]]):  # type: ignore[no-untyped-def]
    """(channel, E, ts) rows with seq in time order, and a reading before each (as in a real journal)."""
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.01) as journal:
        for channel, e, ts in rows:
            rseq = journal.append(
                "readings", {"ts": ts, "meter": "m", "value": 0.0, "unit": "uGy/h", "quantity": "air_kerma_rate"}
            )
            journal.append(
                "samples",
                {
                    "ts": ts,
                    "channel": channel,
                    "meter": "m",
                    "reading_seq": rseq,
                    "room_category": 5,
                    "value_uGy_h": 0.0,
                    "mean_uGy_h": 0.0,
                    "window_n": 1,
                    "background_uGy_h": 0.0,
                    "net_uGy_h": 0.0,
                    "below_background": 0,
                    "normalised_uGy_h": None,
                    "effective_uSv_h": e,
                    "limit_uSv_h": 1.3,
                    "ratio": e / 1.3,
                    "formula": "4",
                },
            )
    conn = connect(path, readonly=True)
    return conn


def at(seconds: float) -> str:
    return times.text(T0 + timedelta(seconds=seconds))


@pytest.mark.parametrize(
    ("span_s", "bucket_s"),
    [(3600, 10), (86400, 60), (7 * 86400, 600), (30 * 86400, 3600), (366 * 86400, 86400), (600, 1)],
)
def test_the_bucket_is_the_narrowest_that_keeps_2000_points(span_s: float, bucket_s: int) -> None:
    assert jq.bucket_for(span_s)[0] == bucket_s


def test_seq_at_splits_the_rows_at_a_time(tmp_path: Path) -> None:
    conn = journal_with(tmp_path, [("a", 1.0, at(s)) for s in range(10)])
    for t in (-1, 0, 4.5, 5, 9, 100):
        boundary = seek.seq_split(conn, times.text_to_ms(at(t)), "samples")
        after = [r[0] for r in conn.execute("SELECT ts FROM samples WHERE seq >= ?", (boundary,))]
        before = [r[0] for r in conn.execute("SELECT ts FROM samples WHERE seq < ?", (boundary,))]
        assert all(ts >= at(t) for ts in after) and all(ts < at(t) for ts in before), t
    assert seek.seq_at(conn, times.text_to_ms(at(5)), "samples") == 12  # the sample of the sixth reading
    assert seek.seq_at(conn, times.text_to_ms(at(5)), "readings") == 11
    assert seek.seq_at(conn, times.text_to_ms(at(100)), "samples") is None  # every row is older
    assert seek.seq_split(conn, times.text_to_ms(at(100)), "samples") == seek.END_SEQ


def test_trend_buckets_give_exact_count_min_mean_max_of_one_channel_only(tmp_path: Path) -> None:
    rows = [("a", float(s), at(s)) for s in range(30)] + [("b", 99.0, at(s + 0.5)) for s in range(30)]
    rows.sort(key=lambda r: r[2])
    conn = journal_with(tmp_path, rows)
    tr = jq.trend(conn, "a", T0, T0 + timedelta(minutes=5))  # 300 s span: 1 s buckets... of 30 samples
    assert tr.bucket_s == 1 and len(tr.buckets) == 30
    tr = jq.trend(conn, "a", T0, T0 + timedelta(hours=1))  # 10 s buckets
    assert tr.bucket_s == 10
    assert tr.buckets == [
        (at(0), 10, 0.0, 4.5, 9.0),
        (at(10), 10, 10.0, 14.5, 19.0),
        (at(20), 10, 20.0, 24.5, 29.0),
    ]
    assert tr.limit_uSv_h == 1.3


def test_trend_buckets_are_whole_and_empty_ones_are_left_out(tmp_path: Path) -> None:
    conn = journal_with(tmp_path, [("a", 1.0, at(0)), ("a", 2.0, at(5)), ("a", 3.0, at(125)), ("a", 4.0, at(400))])
    tr = jq.trend(conn, "a", T0 + timedelta(seconds=1), T0 + timedelta(seconds=300), max_points=30)
    assert tr.bucket_s == 10
    assert tr.buckets == [(at(0), 2, 1.0, 1.5, 2.0), (at(120), 1, 3.0, 3.0, 3.0)]


def test_named_ranges_end_now_and_unknown_ones_are_refused() -> None:
    end = T0
    assert jq.range_ending(end, "24h") == (end - timedelta(hours=24), end)
    with pytest.raises(ValueError, match="unknown range"):
        jq.range_ending(end, "2y")


def test_times_without_a_zone_are_utc() -> None:
    assert times.parse("2026-03-02T08:00:00") == T0
    assert times.parse("2026-03-02T11:00:00+03:00") == T0
