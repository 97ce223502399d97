"""Per channel: minute and hour aggregates of E and the calendar-year dose record, written with the samples.

Each sample stands for the time since the channel's previous sample, at most
``MAX_GAP_MS`` (a longer gap is not covered: nothing is known about it), and
belongs to the minute, hour and UTC year its timestamp falls in. E here is the
effective dose rate from the measured (net) rate, formula 4 (codec.measured_e):
for a channel that normalises to a standard workload it is not the sample's
normalised E, because the dose record is the dose received. A bucket
holds: ``n`` samples, ``e_min``/``e_max`` and ``e_sum`` of E (µSv/h; the mean is
``e_sum / n``), the integrated dose ``dose_uSv`` = Σ E·Δt (Δt in hours), the
time covered ``covered_ms`` = Σ Δt, and ``alarm`` = the channel's worst alarm
state while the bucket was open (0 normal, 1 warning, 2 alarm or fault).
The sums are taken in seq order, so recomputing them from the raw rows in the
same order gives the same floating-point numbers. The yearly record is the dose
register: retention never deletes it.

The writer folds every sample into the open buckets as it commits it, but
writes the buckets to disk only every ``PERSIST_S`` (and at close), with the
highest seq they include (``agg_meta``): rewriting three aggregate pages at
every commit would triple the SD-card writes. After a crash the daemon folds the
raw rows above that seq in again at start-up, so the aggregates on disk always
equal a recomputation from the raw rows they cover.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .codec import measured_e
from .latest import latest_events

MAX_GAP_MS = 60_000
PERSIST_S = 60.0
MINUTE_MS = 60_000
HOUR_MS = 3_600_000
TIERS = ("agg_minute", "agg_hour", "dose_year")
ALARM_RANK = {"normal": 0, "warning": 1, "alarm": 2, "fault": 2}
_COLS = "n, e_min, e_sum, e_max, dose_uSv, covered_ms, alarm, last_ms"


def year_of(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, UTC).year


def bucket_key(tier: str, ms: int) -> int:
    if tier == "agg_minute":
        return ms - ms % MINUTE_MS
    if tier == "agg_hour":
        return ms - ms % HOUR_MS
    return year_of(ms)


def _key_col(tier: str) -> str:
    return "year" if tier == "dose_year" else "start_ms"


@dataclass
class Aggregator:
    """The open buckets of every channel; ``apply`` writes the ones a batch touched."""

    last_ms: dict[int, int] = field(default_factory=dict)
    levels: dict[int, dict[str, int]] = field(default_factory=dict)  # channel -> rule -> rank
    open: dict[tuple[str, int], list[Any]] = field(default_factory=dict)  # (tier, channel) -> [key, *cols]
    dirty: set[tuple[str, int]] = field(default_factory=set)
    closed: dict[tuple[str, int, int], list[Any]] = field(default_factory=dict)  # not yet written
    seq: int = 0  # every sample and alarm event up to this seq is folded in
    persisted_seq: int = 0  # ... and written to disk up to this one

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Aggregator:
        """The state on disk, then the raw rows above it folded in (after a crash)."""
        agg = cls()
        row = conn.execute("SELECT seq FROM agg_meta WHERE id = 1").fetchone()
        agg.seq = agg.persisted_seq = int(row[0]) if row else 0
        channels = [int(r[0]) for r in conn.execute("SELECT id FROM channels")]
        for tier in TIERS:
            key = _key_col(tier)
            # Each channel's latest bucket: one search on the (channel, key) primary key per channel (a
            # correlated MAX per row would read the whole table, which grows with the journal's age).
            for cid in channels:
                row = conn.execute(
                    f"SELECT channel, {key}, {_COLS} FROM {tier} WHERE channel = ? ORDER BY {key} DESC LIMIT 1",
                    (cid,),
                ).fetchone()
                if row is None:
                    continue
                agg.open[(tier, row[0])] = list(row[1:])
                agg.last_ms[row[0]] = max(agg.last_ms.get(row[0], row[9]), row[9])
        ids = {str(r[1]): int(r[0]) for r in conn.execute("SELECT id, name FROM channels")}
        for event in latest_events(conn, upto=agg.seq):
            if event["channel"] in ids:
                agg.levels.setdefault(ids[event["channel"]], {})[event["rule"]] = ALARM_RANK.get(event["state"], 0)
        catch_up(conn, agg)
        return agg

    def snapshot(self) -> Aggregator:
        """A copy for one commit, which the writer keeps only if the commit succeeds.

        The containers are copied (in C: a few microseconds for hundreds of
        channels) and the buckets are shared: :meth:`sample` and :meth:`alarm`
        replace a bucket by a changed copy instead of changing it in place, so
        the original stays as it was for a rollback. (A deep copy here cost
        O(channels) of Python per commit: 40 % of a busy daemon at 200 meters
        committing every 5 ms.)
        """
        return Aggregator(
            last_ms=dict(self.last_ms),
            levels=dict(self.levels),
            open=dict(self.open),
            dirty=set(self.dirty),
            closed=dict(self.closed),
            seq=self.seq,
            persisted_seq=self.persisted_seq,
        )

    def level(self, channel: int) -> int:
        return max(self.levels.get(channel, {}).values(), default=0)

    def alarm(self, channel: int, rule: str, state: str) -> None:
        # new inner dict and bucket copies: a snapshot shares them with its original (see snapshot)
        self.levels[channel] = {**self.levels.get(channel, {}), rule: ALARM_RANK.get(state, 0)}
        lvl = self.level(channel)
        for tier in TIERS:
            b = self.open.get((tier, channel))
            if b is not None and lvl > b[7]:
                b = self.open[(tier, channel)] = list(b)
                b[7] = lvl
                self.dirty.add((tier, channel))

    def sample(self, conn: sqlite3.Connection, channel: int, t: int, e: float) -> None:
        prev = self.last_ms.get(channel)
        dt = min(t - prev, MAX_GAP_MS) if prev is not None and t > prev else 0
        dose = e * dt / HOUR_MS
        lvl = self.level(channel)
        for tier in TIERS:
            key = bucket_key(tier, t)
            b = self.open.get((tier, channel))
            if b is None or b[0] != key:
                if b is not None and (tier, channel) in self.dirty:
                    self.closed[(tier, channel, b[0])] = b  # written with the next persist
                    self.dirty.discard((tier, channel))
                b = self.closed.pop((tier, channel, key), None)
                if b is None:
                    row = conn.execute(
                        f"SELECT {_COLS} FROM {tier} WHERE channel = ? AND {_key_col(tier)} = ?", (channel, key)
                    ).fetchone()
                    b = [key, *row] if row else [key, 0, e, 0.0, e, 0.0, 0, lvl, t]
            b = self.open[(tier, channel)] = list(b)  # changed as a copy: a snapshot shares it (see snapshot)
            b[1] += 1
            b[2] = min(b[2], e)
            b[3] += e
            b[4] = max(b[4], e)
            b[5] += dose
            b[6] += dt
            b[7] = max(b[7], lvl)
            b[8] = max(b[8], t)
            self.dirty.add((tier, channel))
        if prev is None or t > prev:
            self.last_ms[channel] = t

    def write(self, conn: sqlite3.Connection) -> None:
        """Write every changed bucket and the seq they include (in the caller's transaction)."""
        buckets = [(tier, channel, b) for (tier, channel, _), b in self.closed.items()]
        buckets += [(tier, channel, self.open[(tier, channel)]) for tier, channel in sorted(self.dirty)]
        for tier, channel, b in buckets:
            conn.execute(
                f"INSERT OR REPLACE INTO {tier}(channel, {_key_col(tier)}, {_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (channel, *b),
            )
        conn.execute("INSERT OR REPLACE INTO agg_meta(id, seq) VALUES (1, ?)", (self.seq,))
        self.closed.clear()
        self.dirty.clear()
        self.persisted_seq = self.seq


def rebuild(conn: sqlite3.Connection) -> None:
    """Recompute every aggregate from the raw rows (the migration of a 0.1 journal)."""
    for tier in TIERS:
        conn.execute(f"DELETE FROM {tier}")
    agg = Aggregator()
    catch_up(conn, agg)
    agg.write(conn)


def catch_up(conn: sqlite3.Connection, agg: Aggregator) -> None:
    """Fold the samples and alarm events above ``agg.seq`` into ``agg``, in seq order."""
    after = agg.seq
    channels = {r[1]: r[0] for r in conn.execute("SELECT id, name FROM channels")}
    cur = conn.execute(
        "SELECT s.seq, c.channel, COALESCE(x.t, r.t), NULL, NULL FROM sample_rows s"
        " JOIN sample_ctx c ON c.id = s.k LEFT JOIN reading_rows r ON r.seq = s.seq - s.r"
        " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE s.seq > ?"
        " UNION ALL SELECT seq, NULL, NULL, channel, rule || char(0) || state FROM alarm_events WHERE seq > ?"
        " ORDER BY 1",
        (after, after),
    )
    e_of = conn.cursor()
    while True:
        chunk = cur.fetchmany(20_000)
        if not chunk:
            break
        seqs = [r[0] for r in chunk if r[1] is not None]
        es: dict[int, float] = {}
        if seqs:
            es = {
                r[0]: measured_e(r[1], r[2], r[3], r[4])
                for r in e_of.execute(
                    "SELECT v.seq, c.e_factor, v.net_uGy_h, v.normalised_uGy_h, v.effective_uSv_h FROM samples v"
                    " JOIN sample_rows s ON s.seq = v.seq JOIN sample_ctx c ON c.id = s.k"
                    " WHERE v.seq BETWEEN ? AND ?",
                    (seqs[0], seqs[-1]),
                )
            }
        for seq, channel, t, alarm_channel, rule_state in chunk:
            if channel is not None:
                agg.sample(conn, channel, t, es[seq])
            elif alarm_channel in channels:
                rule, state = rule_state.split("\0", 1)
                agg.alarm(channels[alarm_channel], rule, state)
        agg.seq = max(agg.seq, chunk[-1][0])
    top = conn.execute("SELECT MAX(seq) FROM sample_rows").fetchone()[0]
    agg.seq = max(agg.seq, int(top or 0))
