"""Wide trends from closed buckets kept in memory, so that a 7-day view is not 600 000 row reads.

A bucket that has ended never changes (samples are journaled in time order), so
for buckets of a minute and wider the console keeps every closed bucket it has
computed and asks the journal only for the ones it has not seen and the bucket
still open. Narrower buckets (ranges up to ~5.5 h, at most 20 000 samples) are read from the journal
each time. When the journal has minute/hour aggregates, :func:`journal_query.trend`
reads them and this cache becomes unnecessary.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from .. import journal_query
from ..journal_query import Trend

CACHED_FROM_BUCKET_S = 60  # ranges over ~5.5 h
MAX_CACHED_BUCKETS = 20_000  # per channel and width: 14 days of minutes, 139 days of 10 minutes (~2 MB)


@dataclass
class _Closed:
    start: datetime  # the first bucket this entry covers
    until: datetime  # every bucket before this is closed and here
    buckets: dict[str, tuple[str, int, float, float, float]] = field(default_factory=dict)


class TrendCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, int], _Closed] = {}
        self._lock = threading.Lock()

    def trend(
        self, conn: sqlite3.Connection, channel: str, start: datetime, end: datetime, *, now: datetime | None = None
    ) -> Trend:
        width, _ = journal_query.bucket_for((end - start).total_seconds())
        if width < CACHED_FROM_BUCKET_S:
            return journal_query.trend(conn, channel, start, end)
        now = now or datetime.now(UTC)
        start = journal_query.floor_to(start, width)
        closed = journal_query.floor_to(min(now, end), width)  # buckets before this one have ended
        with self._lock:
            entry = self._entries.get((channel, width))
            if entry is None:
                entry = _Closed(start=start, until=start)
                self._entries[(channel, width)] = entry
            if start < entry.start:  # an earlier range than seen so far: read only what is missing
                before = journal_query.trend(conn, channel, start, min(entry.start, closed), bucket_s=width)
                entry.buckets.update((b[0], b) for b in before.buckets)
                entry.until = max(entry.until, min(entry.start, closed))
                entry.start = start
            if entry.until < closed:
                fresh = journal_query.trend(conn, channel, entry.until, closed, bucket_s=width)
                entry.buckets.update((b[0], b) for b in fresh.buckets)
                entry.until = closed
                if len(entry.buckets) > MAX_CACHED_BUCKETS:
                    for key in sorted(entry.buckets)[: len(entry.buckets) - MAX_CACHED_BUCKETS]:
                        del entry.buckets[key]
                    entry.start = journal_query.parse_time(min(entry.buckets))
            start_s, closed_s = journal_query.iso_z(start), journal_query.iso_z(closed)
            old = [b for k, b in sorted(entry.buckets.items()) if start_s <= k < closed_s]
        tail = journal_query.trend(conn, channel, closed, end, bucket_s=width)
        return replace(tail, start=start_s, buckets=old + tail.buckets)
