"""Readings and samples as the TSDB sink writes them: compact rows, read past the views.

The ``readings`` and ``samples`` views rebuild the views' columns for every row
(ISO time text, context columns joined in, JSON text); a sink that turns rows
into line protocol needs none of that per row. These reads give plain tuples
with the time already in the sink's nanoseconds and the context id, and
:func:`reading_contexts` / :func:`sample_contexts` give what the ids stand for
(a context never changes once written, so a reader caches them by id).

Every derived value (net, below background, E, ratio) is the view's own SQL
expression, so a value read here is bit for bit the one the view gives.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from .schema import _NET, E_SQL

# seq > ? AND seq <= ? ... LIMIT ?: the feed's page bounds (daemon/sinks/base.py, JournalFeed).
# ns = the row's millisecond time * 10^6 + seq % 10^6 (payloads.ts_ns: replayed rows are the same point).
# The columns are what a line's template takes, in its order (payloads.CompactLines): first the
# template's key, then the fields as the line protocol has them, the timestamp last.
READINGS_SQL = (
    "SELECT k, v, seq, t * 1000000 + seq % 1000000 FROM reading_rows WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
)
# A sample's key tells its template whether it has a normalised value (the field is left out
# when it has none: its column is then 0.0, which that template skips).


def _samples_sql(extra: bool) -> str:
    """The samples' read; without ``extra``, for rows none of which has a ``sample_extra`` row.

    ``sample_extra`` holds the few values that the expressions would not give
    back identically; a LEFT JOIN of it adds NULLs to every other row, which
    COALESCE passes over, so leaving it out of such a page reads the same
    values without a look-up per row.
    """

    def stored(column: str, expression: str) -> str:
        return f"COALESCE(x.{column}, {expression})" if extra else expression

    return (
        f"SELECT s.k * 2 + (s.nrm IS NULL), COALESCE(s.v, r.v), COALESCE(s.m, s.v, r.v), {stored('net', _NET)},"
        f" COALESCE(s.nrm, 0.0), {E_SQL}, {stored('ratio', f'{E_SQL} / c.limit_uSv_h')},"
        f" {stored('below', 'COALESCE(s.m, s.v, r.v) - c.background_uGy_h < 0')}, s.n, s.seq, s.seq - s.r,"
        f" {stored('t', 'r.t')} * 1000000 + s.seq % 1000000"
        " FROM sample_rows s LEFT JOIN reading_rows r ON r.seq = s.seq - s.r JOIN sample_ctx c ON c.id = s.k"
        + (" LEFT JOIN sample_extra x ON x.seq = s.seq" if extra else "")
        + " WHERE s.seq > ? AND s.seq <= ? ORDER BY s.seq LIMIT ?"
    )


SAMPLES_SQL = _samples_sql(extra=True)
SAMPLES_PLAIN_SQL = _samples_sql(extra=False)
# Column positions (the sample's background and limit are its context's, in the template).
R_KEY, R_VALUE, R_SEQ, R_NS = range(4)
S_KEY, S_VALUE, S_MEAN, S_NET, S_NRM, S_E, S_RATIO, S_BELOW, S_N, S_SEQ, S_READING_SEQ, S_NS = range(12)


def sample_key(context_id: int, has_normalised: bool) -> int:
    """The key ``SAMPLES_SQL`` gives a sample of this context (its template's)."""
    return context_id * 2 + (not has_normalised)


def reading_contexts(conn: sqlite3.Connection) -> dict[int, tuple[str, str]]:
    """Reading context id -> (meter, unit)."""
    return {int(r[0]): (str(r[1]), str(r[2])) for r in conn.execute("SELECT id, meter, unit FROM reading_ctx")}


def sample_contexts(conn: sqlite3.Connection) -> dict[int, tuple[str, str, int, float, float]]:
    """Sample context id -> (channel, meter, room category, background in µGy/h, limit in µSv/h)."""
    rows: list[Any] = conn.execute(
        "SELECT c.id, ch.name, c.meter, c.room_category, c.background_uGy_h, c.limit_uSv_h"
        " FROM sample_ctx c JOIN channels ch ON ch.id = c.channel"
    ).fetchall()
    return {int(r[0]): (str(r[1]), str(r[2]), r[3], r[4], r[5]) for r in rows}
