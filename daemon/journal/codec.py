"""Column rows (``rows.py``, spill files, a migrated journal's tables) <-> the compact rows stored.

A reading becomes (seq, t, k, v, mv, raw): integer UTC milliseconds, the id of
its *context* (meter, unit, quantity, status flags, conversions, whether it has
a meter value), the value, the meter's own value only when it differs, the raw
frame only when there is one. A sample becomes (seq, r, k, v, m, n, nrm, e):
``r`` = seq - reading_seq, ``k`` the channel's context (channel, meter, room
category, background, limit, formula, E factor, corrections: the channel's
config version), and only what cannot be derived bit for bit: the value when it
differs from its reading's, the mean when it differs from the value, E when it
is not the context's factor times the normalised (or net) rate. Net, below
background and ratio are derived by the ``samples`` view with the pipeline's own
floating-point operations; the encoder checks each derivation and stores the
value in ``sample_extra`` whenever it would not come back identical.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from .rows import row_ms

RECENT_READINGS = 1024  # readings kept for their samples' encoding (bounded: the writer's memory stays flat)
# E = factor x dose for the one-height formulas; anything else is stored as E itself.
E_FACTORS = (0.5, 1.0)


def measured_e(e_factor: float | None, net: float, nrm: float | None, e: float) -> float:
    """E from the measured (net) dose rate: what the aggregates and the dose record hold.

    A sample's E is normalised to the standard workload where the channel knows I
    and W (formula 1), which is for comparison with a survey; the dose received is
    the formula-4 factor times the net measured rate, as the alarms judge it.
    """
    if nrm is None:
        return e
    if e_factor is not None:
        return e_factor * net
    return e * net / nrm if nrm else e


@dataclass
class Encoder:
    """Context ids and recent readings of one connection (the writer's, or a migration's)."""

    conn: sqlite3.Connection
    reading_ctx: dict[tuple[Any, ...], int] = field(default_factory=dict)
    sample_ctx: dict[tuple[Any, ...], int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    recent: dict[int, tuple[int, float]] = field(default_factory=dict)  # reading seq -> (t, v)

    def __post_init__(self) -> None:
        self.reload()

    def reload(self) -> None:
        """Caches from the database (after a rolled-back transaction, new ids may not exist)."""
        c = self.conn
        self.reading_ctx = {
            tuple(r[1:]): r[0]
            for r in c.execute(
                "SELECT id, meter, unit, quantity, status, conversions, has_meter_value FROM reading_ctx"
            )
        }
        self.channels = {r[1]: r[0] for r in c.execute("SELECT id, name FROM channels")}
        self.sample_ctx = {
            tuple(r[1:]): r[0]
            for r in c.execute(
                "SELECT id, channel, meter, room_category, background_uGy_h, limit_uSv_h, formula, e_factor,"
                " corrections FROM sample_ctx"
            )
        }
        self.recent.clear()

    # -- ids -----------------------------------------------------------------------------

    def channel_id(self, name: str) -> int:
        cid = self.channels.get(name)
        if cid is None:
            cid = int(self.conn.execute("INSERT INTO channels(name) VALUES (?)", (name,)).lastrowid or 0)
            self.channels[name] = cid
        return cid

    def _reading_ctx(self, key: tuple[Any, ...]) -> int:
        k = self.reading_ctx.get(key)
        if k is None:
            k = int(
                self.conn.execute(
                    "INSERT INTO reading_ctx(meter, unit, quantity, status, conversions, has_meter_value)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    key,
                ).lastrowid
                or 0
            )
            self.reading_ctx[key] = k
        return k

    def factor_of(self, ctx: int) -> float | None:
        """The E factor of a sample context (the formula-4 factor the encoder verified)."""
        for key, k in self.sample_ctx.items():
            if k == ctx:
                return None if key[6] is None else float(key[6])
        return None

    def _sample_ctx(self, key: tuple[Any, ...]) -> int:
        k = self.sample_ctx.get(key)
        if k is None:
            k = int(
                self.conn.execute(
                    "INSERT INTO sample_ctx(channel, meter, room_category, background_uGy_h, limit_uSv_h, formula,"
                    " e_factor, corrections) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    key,
                ).lastrowid
                or 0
            )
            self.sample_ctx[key] = k
        return k

    # -- rows ------------------------------------------------------------------------------

    def reading(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """``reading_rows`` values for a row of ``readings`` columns (``rows.reading_columns``)."""
        value = row["value"]
        mv = row.get("meter_value")
        key = (
            row["meter"],
            row["unit"],
            row["quantity"],
            row.get("status", "[]"),
            row.get("conversions", "[]"),
            int(mv is not None),
        )
        t = row_ms(row)
        seq = row["seq"]
        self.recent[seq] = (t, value)
        if len(self.recent) > RECENT_READINGS:
            # A sample follows its reading within a few seqs (one per channel of the meter, in the same
            # batch), so the newest few hundred are all it needs; an older one is read back from the table.
            for old in list(self.recent)[: RECENT_READINGS // 2]:
                del self.recent[old]
        raw = row.get("raw") or None
        return (seq, t, self._reading_ctx(key), value, None if mv is None or mv == value else mv, raw)

    def _reading_of(self, seq: int) -> tuple[int, float] | None:
        got = self.recent.get(seq)
        if got is None:
            r = self.conn.execute("SELECT t, v FROM reading_rows WHERE seq = ?", (seq,)).fetchone()
            got = (int(r[0]), float(r[1])) if r else None
        return got

    def sample(
        self, row: dict[str, Any], reading: tuple[int, float] | None = None
    ) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
        """(``sample_rows`` values, ``sample_extra`` values or None) for a row of ``samples`` columns."""
        seq = row["seq"]
        reading_seq = int(row["reading_seq"])
        if reading is None:
            reading = self._reading_of(reading_seq)
        t = row_ms(row)
        value = row["value_uGy_h"]
        mean = row["mean_uGy_h"]
        bg = row["background_uGy_h"]
        limit = row["limit_uSv_h"]
        nrm = row["normalised_uGy_h"]
        e = row["effective_uSv_h"]
        # A sample stamped apart from its reading keeps its own value too: it must not need the reading.
        own_t = reading is None or reading[0] != t
        v_stored = None if not own_t and reading is not None and reading[1] == value else value
        m_stored = None if mean == value else mean
        diff = mean - bg
        net = max(diff, 0.0)
        dose = nrm if nrm is not None else net
        factor = next((f for f in E_FACTORS if f * dose == e), None)
        key = (
            self.channel_id(row["channel"]),
            row["meter"],
            row["room_category"],
            bg,
            limit,
            row["formula"],
            factor,
            row.get("corrections", "[]"),
        )
        k = self._sample_ctx(key)
        ratio = e / limit if limit else None
        extra = (
            seq,
            t if own_t else None,
            None if row["net_uGy_h"] == net else row["net_uGy_h"],
            None if bool(row["below_background"]) == (diff < 0) else int(row["below_background"]),
            None if ratio is not None and row["ratio"] == ratio else row["ratio"],
        )
        stored = (
            seq,
            seq - reading_seq,
            k,
            v_stored,
            m_stored,
            row["window_n"],
            nrm,
            None if factor is not None else e,
        )
        return stored, (extra if any(x is not None for x in extra[1:]) else None)


def migrate_samples(conn: sqlite3.Connection, batch: int = 20_000) -> int:
    """0.1's ``samples`` table -> ``sample_rows`` (+ ``sample_extra``), in seq order; returns the count."""
    enc = Encoder(conn)
    read = conn.cursor()
    read.execute(
        "SELECT o.*, r.t AS rt, r.v AS rv FROM samples o LEFT JOIN reading_rows r ON r.seq = o.reading_seq"
        " ORDER BY o.seq"
    )
    names = [d[0] for d in read.description]
    n = 0
    while True:
        chunk = read.fetchmany(batch)
        if not chunk:
            break
        rows, extras = [], []
        for values in chunk:
            row = dict(zip(names, values, strict=True))
            reading = (row["rt"], row["rv"]) if row["rt"] is not None else None
            stored, extra = enc.sample(row, reading)
            rows.append(stored)
            if extra:
                extras.append(extra)
        conn.executemany(INSERT_SAMPLE, rows)
        conn.executemany(INSERT_EXTRA, extras)
        n += len(rows)
    return n


INSERT_READING = "INSERT INTO reading_rows(seq, t, k, v, mv, raw) VALUES (?, ?, ?, ?, ?, ?)"
INSERT_SAMPLE = "INSERT INTO sample_rows(seq, r, k, v, m, n, nrm, e) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
INSERT_EXTRA = "INSERT INTO sample_extra(seq, t, net, below, ratio) VALUES (?, ?, ?, ?, ?)"
