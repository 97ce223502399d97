"""Tiered retention, run inside the journal writer's transaction.

Raw readings and samples go when every sink acknowledged them and they are
older than the raw tier's age; minute and hour aggregates go by their own ages
(they are never sent, so no acknowledgement holds them); the yearly dose
record is never deleted. A pass deletes at most ``MAX_ROWS_PER_PASS`` raw rows,
so the writer's transaction stays short; the next pass carries on.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from . import seek, times

MAX_ROWS_PER_PASS = 50_000
# A sample is appended right after its reading: this many seqs always covers the two.
_SAMPLE_REACH = 10_000


@dataclass(frozen=True)
class RetentionPlan:
    upto: int  # the highest seq every sink acknowledged
    raw_before: datetime | None
    minute_before: datetime | None
    hour_before: datetime | None
    events_before: datetime | None
    event_tables: tuple[str, ...] = ("meter_events",)


def raw_boundary(conn: sqlite3.Connection, upto: int, before_ms: int) -> int:
    """The highest seq X such that raw rows up to X may go: acknowledged, older, and no sample above X
    still needs a reading at or below X."""
    first_new = seek.seq_at(conn, before_ms)
    x = upto if first_new is None else min(upto, first_new - 1)
    folded = conn.execute("SELECT seq FROM agg_meta WHERE id = 1").fetchone()
    x = min(x, int(folded[0]) if folded else 0)  # never a raw row the aggregates on disk do not hold yet
    low = seek.first_seq(conn)
    if low is None:
        return 0
    x = min(x, low + MAX_ROWS_PER_PASS)
    needed = conn.execute(
        "SELECT MIN(seq - r) FROM sample_rows WHERE seq > ? AND seq <= ?", (x, x + _SAMPLE_REACH)
    ).fetchone()[0]
    if needed is not None and needed <= x:
        x = needed - 1
    return int(x)


def apply_retention(conn: sqlite3.Connection, plan: RetentionPlan) -> dict[str, int]:
    """Delete what the plan allows; returns rows deleted per table."""
    out: dict[str, int] = {}

    def count(table: str, cur: sqlite3.Cursor) -> None:
        if cur.rowcount > 0:
            out[table] = out.get(table, 0) + cur.rowcount

    if plan.raw_before is not None:
        before = times.datetime_to_ms(plan.raw_before)
        x = raw_boundary(conn, plan.upto, before)
        if x > 0:
            older = (
                "COALESCE((SELECT t FROM sample_extra e WHERE e.seq = sample_rows.seq),"
                " (SELECT t FROM reading_rows r WHERE r.seq = sample_rows.seq - sample_rows.r)) < ?"
            )
            gone = [r[0] for r in conn.execute(f"SELECT seq FROM sample_rows WHERE seq <= ? AND {older}", (x, before))]
            if gone:
                conn.executemany("DELETE FROM sample_extra WHERE seq = ?", [(s,) for s in gone])
                count("samples", conn.execute(f"DELETE FROM sample_rows WHERE seq <= ? AND {older}", (x, before)))
            count("readings", conn.execute("DELETE FROM reading_rows WHERE seq <= ? AND t < ?", (x, before)))
    # Per channel, so that the primary key (channel, start_ms) bounds each delete (a bucket starts before
    # its last sample, so ``start_ms < before`` loses none of them); ``last_ms < ?`` alone would scan the table.
    channels = [int(r[0]) for r in conn.execute("SELECT id FROM channels")]
    for table, before_at in (("agg_minute", plan.minute_before), ("agg_hour", plan.hour_before)):
        if before_at is None:
            continue
        before_ms = times.datetime_to_ms(before_at)
        for cid in channels:
            count(
                table,
                conn.execute(
                    f"DELETE FROM {table} WHERE channel = ? AND start_ms < ? AND last_ms < ?",
                    (cid, before_ms, before_ms),
                ),
            )
    if plan.events_before is not None:
        for table in plan.event_tables:
            count(
                table,
                conn.execute(
                    f"DELETE FROM {table} WHERE seq <= ? AND ts < ?", (plan.upto, times.text(plan.events_before))
                ),
            )
    return out
