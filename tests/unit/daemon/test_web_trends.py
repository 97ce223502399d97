"""Wide trends from cached closed buckets equal the journal's own answer (daemon/web/trends.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from radsurvey.daemon import journal_query as jq
from radsurvey.daemon.web.trends import TrendCache

from .test_journal_query import T0, at, journal_with


def test_cached_trends_equal_the_journal_as_time_moves_on_and_ranges_change(tmp_path: Path) -> None:
    # 2 days at one sample per 30 s, two channels interleaved; the clock walks over the second day.
    rows = [(ch, (s % 997) / 10.0, at(s)) for s in range(0, 2 * 86400, 30) for ch in ("a", "b")]
    conn = journal_with(tmp_path, rows)
    cache = TrendCache()
    for now_s in (86400 + 7, 86400 + 601, 86400 + 3 * 3600 + 11, 2 * 86400 - 1):
        now = T0 + timedelta(seconds=now_s)
        for span in (timedelta(hours=6), timedelta(hours=20), timedelta(days=1), timedelta(days=2)):
            for start in (now - span, now - span - timedelta(hours=5)):  # also a range earlier than any before
                cached = cache.trend(conn, "a", start, now, now=now)
                direct = jq.trend(conn, "a", start, now)
                assert (cached.bucket_s, cached.start, cached.buckets) == (
                    direct.bucket_s,
                    direct.start,
                    direct.buckets,
                ), (now_s, span, start)


def test_a_range_in_the_past_is_answered_from_the_cache_without_losing_it(tmp_path: Path) -> None:
    rows = [("a", float(s % 50), at(s)) for s in range(0, 86400, 60)]
    conn = journal_with(tmp_path, rows)
    cache = TrendCache()
    now = T0 + timedelta(seconds=86400)
    cache.trend(conn, "a", now - timedelta(hours=20), now, now=now)
    past = cache.trend(conn, "a", now - timedelta(hours=19), now - timedelta(hours=8), now=now)
    assert past.buckets == jq.trend(conn, "a", now - timedelta(hours=19), now - timedelta(hours=8)).buckets
    assert cache._entries[("a", 60)].until == jq.floor_to(now, 60)
