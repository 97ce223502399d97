"""Time -> seq: the one bisection over the journal's rows.

``seq`` grows with time (rows are appended in time order; stamps of different
meters may be a little out of order, which callers allow for), so a time range
becomes a seq range by bisection, and every query after that is a search on
the ``seq`` primary key. Each probe is a rowid search: the first and last seq
are two lookups (``MIN(seq)`` alone, ``MAX(seq)`` alone), never both in one
statement, which SQLite answers with a scan of the whole table (1.3 s on a
30-day journal, inside the writer's commit when retention runs).
"""

from __future__ import annotations

import sqlite3
from typing import Literal

Rows = Literal["readings", "samples"]

# The first stored row at or above a seq, with its time in ms.
_PROBE: dict[Rows, str] = {
    "readings": "SELECT seq, t FROM reading_rows WHERE seq >= ? ORDER BY seq LIMIT 1",
    "samples": "SELECT s.seq, COALESCE(x.t, r.t) FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r"
    " LEFT JOIN sample_extra x ON x.seq = s.seq WHERE s.seq >= ? ORDER BY s.seq LIMIT 1",
}
_TABLE: dict[Rows, str] = {"readings": "reading_rows", "samples": "sample_rows"}
# Past every seq the journal can give: the end of a range that reaches beyond its last row.
END_SEQ = (1 << 63) - 1


def first_seq(conn: sqlite3.Connection, rows: Rows = "readings") -> int | None:
    """The lowest stored seq of readings or samples (None when there is none)."""
    row = conn.execute(f"SELECT MIN(seq) FROM {_TABLE[rows]}").fetchone()
    return None if row[0] is None else int(row[0])


def last_seq(conn: sqlite3.Connection, rows: Rows = "readings") -> int | None:
    """The highest stored seq of readings or samples (None when there is none)."""
    row = conn.execute(f"SELECT MAX(seq) FROM {_TABLE[rows]}").fetchone()
    return None if row[0] is None else int(row[0])


def seq_at(conn: sqlite3.Connection, ms: int, rows: Rows = "readings") -> int | None:
    """The first seq of ``rows`` whose time is >= ``ms``; None when every row is older (or there is none).

    Rows at or above it have times >= ``ms`` and rows below it earlier ones, as far as times grow with seq.
    """
    lo, hi = first_seq(conn, rows), last_seq(conn, rows)
    if lo is None or hi is None:
        return None
    probe = _PROBE[rows]
    hi += 1
    while lo < hi:
        mid = (lo + hi) // 2
        found = conn.execute(probe, (mid,)).fetchone()
        if found is None or found[1] >= ms:
            hi = mid
        else:
            lo = int(found[0]) + 1
    found = conn.execute(probe, (lo,)).fetchone()
    return None if found is None else int(found[0])


def seq_split(conn: sqlite3.Connection, ms: int, rows: Rows = "readings") -> int:
    """As :func:`seq_at`, but :data:`END_SEQ` when every row is older: ``seq >= split`` selects nothing then."""
    at = seq_at(conn, ms, rows)
    return END_SEQ if at is None else at
