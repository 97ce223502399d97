"""The journal's schema: connections, migrations (0.1's four and the compact rows of 0.2).

Readings and samples are stored compactly (``reading_rows``, ``sample_rows``;
see README.md in this folder) and read through the views ``readings`` and
``samples``, which give back exactly the columns and values 0.1 stored.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from radsurvey.protocols.errors import JournalError

from . import times

log = structlog.get_logger("radsurvey.journal")

# A connection to the journal, as the package's read functions take it (callers outside the package only
# pass it on: they never run SQL on it).
ReadConnection = sqlite3.Connection
ReadError = sqlite3.Error

# (version, description, SQL). Append only; never edit a released migration.
MIGRATIONS: list[tuple[int, str, str | Callable[[sqlite3.Connection], None]]] = [
    (
        1,
        "readings, samples, meter events, runs, sink cursors",
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            stopped_at TEXT,
            clean INTEGER NOT NULL DEFAULT 0,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            config TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE readings (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            meter TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            quantity TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT '[]',
            raw BLOB NOT NULL DEFAULT x'',
            conversions TEXT NOT NULL DEFAULT '[]',
            meter_value REAL
        );
        CREATE INDEX readings_meter_seq ON readings(meter, seq);
        CREATE TABLE samples (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            channel TEXT NOT NULL,
            meter TEXT NOT NULL,
            reading_seq INTEGER NOT NULL,
            room_category INTEGER NOT NULL,
            value_uGy_h REAL NOT NULL,
            mean_uGy_h REAL NOT NULL,
            window_n INTEGER NOT NULL,
            background_uGy_h REAL NOT NULL,
            net_uGy_h REAL NOT NULL,
            below_background INTEGER NOT NULL,
            normalised_uGy_h REAL,
            effective_uSv_h REAL NOT NULL,
            limit_uSv_h REAL NOT NULL,
            ratio REAL NOT NULL,
            formula TEXT NOT NULL,
            corrections TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX samples_channel_seq ON samples(channel, seq);
        CREATE TABLE meter_events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            meter TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE sink_cursors (
            sink TEXT PRIMARY KEY,
            seq INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    (
        2,
        "sink delivery errors beside each sink cursor",
        """
        ALTER TABLE sink_cursors ADD COLUMN errors INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE sink_cursors ADD COLUMN last_error TEXT NOT NULL DEFAULT '';
        ALTER TABLE sink_cursors ADD COLUMN last_error_at TEXT
        """,
    ),
    (
        3,
        "alarm events, acknowledgement requests, alarm rule state",
        """
        CREATE TABLE alarm_events (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            channel TEXT NOT NULL,
            rule TEXT NOT NULL,
            kind TEXT NOT NULL,
            event TEXT NOT NULL,
            state TEXT NOT NULL,
            previous TEXT NOT NULL,
            value REAL,
            level REAL NOT NULL,
            warning_level REAL,
            unit TEXT NOT NULL,
            since TEXT NOT NULL,
            acknowledged INTEGER NOT NULL DEFAULT 0,
            acknowledged_by TEXT,
            acknowledged_at TEXT,
            comment TEXT NOT NULL DEFAULT '',
            latched INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX alarm_events_channel_rule_seq ON alarm_events(channel, rule, seq);
        CREATE TABLE alarm_acks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            requested_at TEXT NOT NULL,
            channel TEXT NOT NULL,
            rule TEXT,
            by TEXT NOT NULL,
            comment TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT 'cli',
            handled_at TEXT,
            result TEXT
        );
        CREATE TABLE alarm_rule_state (
            channel TEXT NOT NULL,
            rule TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (channel, rule)
        );
        """,
    ),
    (
        4,
        "survey sessions: surveys, point definitions, readings as captured, evaluated points",
        """
        CREATE TABLE surveys (
            id TEXT PRIMARY KEY,
            metadata TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE survey_point_specs (
            survey TEXT NOT NULL,
            point TEXT NOT NULL,
            ord INTEGER NOT NULL,
            spec TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (survey, point)
        );
        CREATE TABLE survey_readings (
            id INTEGER PRIMARY KEY,
            survey TEXT NOT NULL,
            point TEXT NOT NULL DEFAULT '',
            height_cm INTEGER,
            ts TEXT NOT NULL,
            value_uGy_h REAL NOT NULL,
            source TEXT NOT NULL,
            unit TEXT NOT NULL DEFAULT 'uGy/h',
            raw TEXT NOT NULL DEFAULT '',
            discarded INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX survey_readings_by_point ON survey_readings(survey, point, height_cm, id);
        CREATE TABLE survey_points (
            seq INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            survey TEXT NOT NULL,
            point TEXT NOT NULL,
            room_category INTEGER NOT NULL,
            formula TEXT NOT NULL,
            effective_uSv_h REAL,
            limit_uSv_h REAL NOT NULL,
            ratio REAL,
            verdict TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX survey_points_by_point ON survey_points(survey, point, seq);
        """,
    ),
]


# The journal's time text <-> integer UTC milliseconds, in SQL (times.py).
iso_sql = times.text_sql
ms_sql = times.ms_sql


COMPACT_TABLES = """
CREATE TABLE reading_ctx (
    id INTEGER PRIMARY KEY,
    meter TEXT NOT NULL,
    unit TEXT NOT NULL,
    quantity TEXT NOT NULL,
    status TEXT NOT NULL,
    conversions TEXT NOT NULL,
    has_meter_value INTEGER NOT NULL,
    UNIQUE (meter, unit, quantity, status, conversions, has_meter_value)
);
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE sample_ctx (
    id INTEGER PRIMARY KEY,
    channel INTEGER NOT NULL REFERENCES channels(id),
    meter TEXT NOT NULL,
    room_category INTEGER NOT NULL,
    background_uGy_h REAL NOT NULL,
    limit_uSv_h REAL NOT NULL,
    formula TEXT NOT NULL,
    e_factor REAL,
    corrections TEXT NOT NULL,
    UNIQUE (channel, meter, room_category, background_uGy_h, limit_uSv_h, formula, e_factor, corrections)
);
CREATE TABLE reading_rows (
    seq INTEGER PRIMARY KEY,
    t INTEGER NOT NULL,
    k INTEGER NOT NULL,
    v REAL NOT NULL,
    mv REAL,
    raw BLOB
);
CREATE TABLE sample_rows (
    seq INTEGER PRIMARY KEY,
    r INTEGER NOT NULL,
    k INTEGER NOT NULL,
    v REAL,
    m REAL,
    n INTEGER NOT NULL,
    nrm REAL,
    e REAL
);
CREATE TABLE sample_extra (
    seq INTEGER PRIMARY KEY,
    t INTEGER,
    net REAL,
    below INTEGER,
    ratio REAL
);
CREATE TABLE agg_minute (
    channel INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    e_min REAL NOT NULL,
    e_sum REAL NOT NULL,
    e_max REAL NOT NULL,
    dose_uSv REAL NOT NULL,
    covered_ms INTEGER NOT NULL,
    alarm INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, start_ms)
) WITHOUT ROWID;
CREATE TABLE agg_hour (
    channel INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    n INTEGER NOT NULL,
    e_min REAL NOT NULL,
    e_sum REAL NOT NULL,
    e_max REAL NOT NULL,
    dose_uSv REAL NOT NULL,
    covered_ms INTEGER NOT NULL,
    alarm INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, start_ms)
) WITHOUT ROWID;
CREATE TABLE agg_meta (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
CREATE TABLE dose_year (
    channel INTEGER NOT NULL,
    year INTEGER NOT NULL,
    n INTEGER NOT NULL,
    e_min REAL NOT NULL,
    e_sum REAL NOT NULL,
    e_max REAL NOT NULL,
    dose_uSv REAL NOT NULL,
    covered_ms INTEGER NOT NULL,
    alarm INTEGER NOT NULL,
    last_ms INTEGER NOT NULL,
    PRIMARY KEY (channel, year)
) WITHOUT ROWID
"""

# The views give back 0.1's columns; every derived value is the same IEEE operation the pipeline did,
# and the writer stores a value explicitly whenever the derivation would not give it bit for bit.
_NET = "MAX(COALESCE(s.m, s.v, r.v) - c.background_uGy_h, 0.0)"
# E as stored (normalised where the channel normalises) and E from the measured net rate (codec.measured_e),
# over sample_rows s, reading_rows r, sample_ctx c.
E_SQL = f"COALESCE(s.e, c.e_factor * COALESCE(s.nrm, {_NET}))"
MEASURED_E_SQL = (
    f"CASE WHEN s.nrm IS NULL THEN {E_SQL} WHEN c.e_factor IS NOT NULL THEN c.e_factor * {_NET}"
    f" WHEN s.nrm != 0 THEN {E_SQL} * {_NET} / s.nrm ELSE {E_SQL} END"
)
COMPACT_VIEWS = f"""
CREATE VIEW readings AS
SELECT r.seq AS seq, {iso_sql("r.t")} AS ts, k.meter AS meter, r.v AS value, k.unit AS unit,
       k.quantity AS quantity, k.status AS status, COALESCE(r.raw, x'') AS raw, k.conversions AS conversions,
       CASE WHEN k.has_meter_value THEN COALESCE(r.mv, r.v) END AS meter_value
FROM reading_rows r JOIN reading_ctx k ON k.id = r.k;
CREATE VIEW samples AS
SELECT s.seq AS seq, {iso_sql("COALESCE(x.t, r.t)")} AS ts, ch.name AS channel, c.meter AS meter,
       s.seq - s.r AS reading_seq, c.room_category AS room_category,
       COALESCE(s.v, r.v) AS value_uGy_h, COALESCE(s.m, s.v, r.v) AS mean_uGy_h, s.n AS window_n,
       c.background_uGy_h AS background_uGy_h, COALESCE(x.net, {_NET}) AS net_uGy_h,
       COALESCE(x.below, COALESCE(s.m, s.v, r.v) - c.background_uGy_h < 0) AS below_background,
       s.nrm AS normalised_uGy_h, COALESCE(s.e, c.e_factor * COALESCE(s.nrm, {_NET})) AS effective_uSv_h,
       c.limit_uSv_h AS limit_uSv_h,
       COALESCE(x.ratio, COALESCE(s.e, c.e_factor * COALESCE(s.nrm, {_NET})) / c.limit_uSv_h) AS ratio,
       c.formula AS formula, c.corrections AS corrections
FROM sample_rows s
LEFT JOIN reading_rows r ON r.seq = s.seq - s.r
JOIN sample_ctx c ON c.id = s.k
JOIN channels ch ON ch.id = c.channel
LEFT JOIN sample_extra x ON x.seq = s.seq
"""


def has_compact_rows(conn: sqlite3.Connection) -> bool:
    """Whether the journal (schema 5 on) stores compact rows and their aggregates (else it awaits migration)."""
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sample_rows'").fetchone() is not None


def _to_compact_rows(conn: sqlite3.Connection) -> None:
    """0.1's readings and samples -> compact rows (every value kept bit for bit), then the aggregates."""
    for statement in _statements(COMPACT_TABLES):
        conn.execute(statement)
    conn.execute(
        "INSERT OR IGNORE INTO reading_ctx(meter, unit, quantity, status, conversions, has_meter_value)"
        " SELECT meter, unit, quantity, status, conversions, meter_value IS NOT NULL FROM readings ORDER BY seq"
    )
    conn.execute(
        "INSERT INTO reading_rows(seq, t, k, v, mv, raw)"
        f" SELECT o.seq, {ms_sql('o.ts')}, k.id, o.value,"
        "  CASE WHEN o.meter_value IS NULL OR o.meter_value = o.value THEN NULL ELSE o.meter_value END,"
        "  CASE WHEN length(o.raw) = 0 THEN NULL ELSE o.raw END"
        " FROM readings o JOIN reading_ctx k ON k.meter = o.meter AND k.unit = o.unit AND k.quantity = o.quantity"
        "  AND k.status = o.status AND k.conversions = o.conversions"
        "  AND k.has_meter_value = (o.meter_value IS NOT NULL)"
    )
    from .codec import migrate_samples

    migrate_samples(conn)
    conn.execute("DROP TABLE readings")
    conn.execute("DROP TABLE samples")
    for statement in _statements(COMPACT_VIEWS):
        conn.execute(statement)
    from .aggregates import rebuild

    rebuild(conn)


MIGRATIONS.append(
    (
        5,
        "compact readings and samples (integer times, context ids, derived columns), views with 0.1's columns,"
        " minute/hour aggregates and the yearly dose record",
        _to_compact_rows,
    )
)

MIGRATIONS.append(
    (
        6,
        "rows an earlier run could not commit (disk full): count, seq range, spill file, import",
        """
        CREATE TABLE uncommitted (
            id INTEGER PRIMARY KEY,
            run INTEGER,
            noted_at TEXT,
            recorded_at TEXT NOT NULL,
            rows INTEGER NOT NULL,
            first_seq INTEGER NOT NULL,
            last_seq INTEGER NOT NULL,
            error TEXT,
            spill_file TEXT,
            imported_rows INTEGER NOT NULL DEFAULT 0,
            imported_at TEXT,
            UNIQUE (first_seq, last_seq)
        )
        """,
    )
)

MIGRATIONS.append(
    (
        7,
        "steps of the system clock the daemon saw (wall clock against the monotonic clock)",
        """
        CREATE TABLE clock_steps (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            step_s REAL NOT NULL,
            run INTEGER
        )
        """,
    )
)

# Tables that grow with the journal's age and whose row counts ``journal stats`` reports: kept in
# ``row_counts`` by triggers in the same statement as every insert and delete (the writer, retention, spill
# import, recovery, the aggregates), so a count is one primary-key lookup, never a read of the table.
COUNTED: tuple[str, ...] = (
    "reading_rows",
    "sample_rows",
    "meter_events",
    "alarm_events",
    "survey_points",
    "agg_minute",
    "agg_hour",
)
# The aggregates are written with INSERT OR REPLACE, whose replace deletes fire no delete trigger: a bucket
# is counted before its insert, and only when its key is new.
_KEYED = {
    "agg_minute": "channel = NEW.channel AND start_ms = NEW.start_ms",
    "agg_hour": "channel = NEW.channel AND start_ms = NEW.start_ms",
}


def _row_counts(conn: sqlite3.Connection) -> None:
    """Migration 8: ``row_counts`` filled exactly from the journal as it stands, then kept by triggers."""
    conn.execute("CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID")
    for table in COUNTED:
        conn.execute(f"INSERT INTO row_counts(name, n) SELECT '{table}', COUNT(*) FROM {table}")
        inc = f"UPDATE row_counts SET n = n + 1 WHERE name = '{table}'"
        dec = f"UPDATE row_counts SET n = n - 1 WHERE name = '{table}'"
        if table in _KEYED:
            conn.execute(
                f"CREATE TRIGGER {table}_counted BEFORE INSERT ON {table}"
                f" WHEN NOT EXISTS (SELECT 1 FROM {table} WHERE {_KEYED[table]}) BEGIN {inc}; END"
            )
        else:
            conn.execute(f"CREATE TRIGGER {table}_counted AFTER INSERT ON {table} BEGIN {inc}; END")
        conn.execute(f"CREATE TRIGGER {table}_uncounted AFTER DELETE ON {table} BEGIN {dec}; END")


MIGRATIONS.append((8, "row counts kept by triggers (journal stats without reading whole tables)", _row_counts))

# The two tables every commit appends to are counted up to a seq (``row_counts.upto``): ``n`` is the
# number of their rows with seq <= upto, and the rows above it are counted by key when asked
# (:func:`row_counts`). The writer moves ``upto`` to the top once a minute (:func:`fold_counts`); the
# triggers count only inserts and deletes at or below it (a spill import, retention, a salvage). Kept at
# every commit, the ``row_counts`` page was one of the four pages each 1 s commit wrote to the SD card.
FOLDED: tuple[str, ...] = ("reading_rows", "sample_rows")


def _folded_counts(conn: sqlite3.Connection) -> None:
    """Migration 9: ``reading_rows`` and ``sample_rows`` counted up to ``upto``, folded once a minute."""
    conn.execute("ALTER TABLE row_counts ADD COLUMN upto INTEGER NOT NULL DEFAULT 0")
    for table in FOLDED:
        conn.execute(f"DROP TRIGGER {table}_counted")
        conn.execute(f"DROP TRIGGER {table}_uncounted")
        below = f"(SELECT upto FROM row_counts WHERE name = '{table}')"
        for when, event, row in (("counted", "INSERT", "NEW"), ("uncounted", "DELETE", "OLD")):
            step = "+ 1" if event == "INSERT" else "- 1"
            conn.execute(
                f"CREATE TRIGGER {table}_{when} AFTER {event} ON {table} WHEN {row}.seq <= {below}"
                f" BEGIN UPDATE row_counts SET n = n {step} WHERE name = '{table}'; END"
            )
        conn.execute(f"UPDATE row_counts SET upto = COALESCE((SELECT MAX(seq) FROM {table}), 0) WHERE name = '{table}'")


MIGRATIONS.append((9, "raw rows counted up to a seq, folded once a minute (fewer pages per commit)", _folded_counts))


def fold_counts(conn: sqlite3.Connection) -> None:
    """Count the rows above ``upto`` into ``n`` and move ``upto`` to the top (in the caller's transaction)."""
    for table in FOLDED:
        conn.execute(
            f"UPDATE row_counts SET n = n + (SELECT COUNT(*) FROM {table} WHERE seq > upto),"
            f" upto = MAX(upto, COALESCE((SELECT MAX(seq) FROM {table}), 0)) WHERE name = '{table}'"
        )


def recount(conn: sqlite3.Connection) -> None:
    """``row_counts`` set from the tables themselves (reads each whole: a salvage only)."""
    conn.execute("DELETE FROM row_counts")
    for table in COUNTED:
        top = f"COALESCE((SELECT MAX(seq) FROM {table}), 0)" if table in FOLDED else "0"
        conn.execute(f"INSERT INTO row_counts(name, n, upto) SELECT '{table}', COUNT(*), {top} FROM {table}")


# A seq told to a sink (and so perhaps published) is never given out again, even after a power cut. With
# ``synchronous = NORMAL`` a commit may be lost when the power goes (writer.py, ``LAZY_SYNC``) after a sink
# published its rows; the next run would give their seqs to other rows, which a subscriber that tells repeats
# by seq drops. So the writer keeps a reservation ahead of every seq it lets sinks read: raised by
# ``SEQ_BLOCK`` in a fsynced commit when the seqs reach it, with the boot it was made in, and removed at a
# clean close. A run that finds one left by another boot (the power went, or the machine crashed) continues
# above it; one left in this boot (the process was killed, the kernel kept every commit) continues as usual.
MIGRATIONS.append(
    (
        10,
        "a durable reservation above every seq told to a sink (no seq reused after a power cut)",
        "CREATE TABLE seq_reserved (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, boot TEXT NOT NULL)",
    )
)

SCHEMA_VERSION = MIGRATIONS[-1][0]


def row_counts(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Rows per table of :data:`COUNTED` (by key: a lookup each, and the rows above ``upto``); None before 8."""
    columns = {str(r[1]) for r in conn.execute("PRAGMA table_info(row_counts)")}
    if not columns:
        return None
    if "upto" not in columns:  # schema 8
        return {str(r[0]): int(r[1]) for r in conn.execute("SELECT name, n FROM row_counts")}
    counts = {}
    for name, n, upto in conn.execute("SELECT name, n, upto FROM row_counts").fetchall():
        if name in FOLDED:
            n += conn.execute(f"SELECT COUNT(*) FROM {name} WHERE seq > ?", (upto,)).fetchone()[0]
        counts[str(name)] = int(n)
    return counts


# Tables whose rows carry the journal-wide seq (what sinks replay).
SEQ_TABLES: tuple[str, ...] = ("readings", "samples", "meter_events", "alarm_events", "survey_points")
# Where those rows are stored (readings and samples are views of the compact tables).
STORED: dict[str, str] = {"readings": "reading_rows", "samples": "sample_rows"}
STORED_SEQ_TABLES: tuple[str, ...] = tuple(STORED.get(t, t) for t in SEQ_TABLES)


SEQ_BLOCK = 100_000  # seqs reserved at a time: one fsynced commit per ~2 h at 8 meters x 1 Hz
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def current_boot() -> str:
    """This boot's id (Linux); "" where it cannot be read, which no reservation is taken to be from."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def reservation(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The seq reserved by the last run that did not close the journal, and the boot it ran in (None if none)."""
    try:
        row = conn.execute("SELECT seq, boot FROM seq_reserved WHERE id = 1").fetchone()
    except sqlite3.OperationalError:  # before schema 10
        return None
    return None if row is None else (int(row[0]), str(row[1]))


def lost_power_floor(left: tuple[int, str] | None, boot: str) -> int:
    """``left`` (:func:`reservation`) if a run in another boot than ``boot`` left it (0 otherwise): every seq
    up to it may have been published, and commits after the last fsync are gone; seqs continue above it."""
    if left is None:
        return 0
    seq, made_in = left
    return 0 if made_in and made_in == boot else seq


def max_seq(conn: sqlite3.Connection) -> int:
    """The highest seq this journal has given out; the next row gets one more.

    Cursors count too: retention may have deleted the newest rows, and a seq
    given out again below a sink's cursor would never reach that sink. So do
    the seqs of rows an earlier run could not commit (``uncommitted``): they
    may still be imported from a spill file under their own seqs.
    """
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in (*STORED_SEQ_TABLES, *SEQ_TABLES, "sink_cursors") if t in names]
    parts = " UNION ALL ".join(f"SELECT MAX(seq) AS m FROM {t}" for t in tables)
    if "uncommitted" in names:
        parts += " UNION ALL SELECT MAX(last_seq) AS m FROM uncommitted"
    row = conn.execute(f"SELECT MAX(m) FROM ({parts})").fetchone()
    return int(row[0] or 0)


now_iso = times.now_text


# Bytes per page of a new journal. Each commit writes every page it touched to the WAL, and a commit of
# a second's readings and samples touches about four (the last leaf of reading_rows and of sample_rows,
# row_counts, sink_cursors): with SQLite's 4 096-byte default that was 67 MB/h on the card at 8 meters and
# a 1 s commit, with 1 024 it is 22 MB/h (benchmarks/README.md, SD-card writes; docs/raspberry-pi.md).
PAGE_SIZE = 1024


def connect(path: Path, *, readonly: bool = False, synchronous: str = "normal") -> sqlite3.Connection:
    """A connection with the journal's pragmas; read-only ones never create or lock."""
    try:
        if readonly:
            if not path.exists():
                raise JournalError("journal not found", source=str(path))
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)
            try:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                # A WAL journal in a folder we cannot write (a read-only disk, another user's files): SQLite cannot
                # make its -shm there. Nobody can be writing it then, so it is read as it stands on the disk.
                conn.close()
                if os.access(path.parent, os.W_OK):
                    raise
                conn = sqlite3.connect(
                    f"file:{path}?mode=ro&immutable=1", uri=True, timeout=10, check_same_thread=False
                )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists() or path.stat().st_size == 0
            conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
            if new:  # fixed when the file is made; a journal made with other pages keeps them
                conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.row_factory = sqlite3.Row
        return conn
    except sqlite3.DatabaseError as err:
        hint = ""
        if not readonly and "readonly" in str(err):
            hint = " (the daemon writes its journal: check the owner and mode of the file and of its folder)"
        raise JournalError(f"cannot open journal: {err}{hint}", source=str(path)) from None


def schema_version(conn: sqlite3.Connection) -> int:
    has = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'").fetchone()
    if not has:
        return 0
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the schema to SCHEMA_VERSION, one transaction per migration."""
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version"
            " (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL, description TEXT NOT NULL)"
        )
        current = schema_version(conn)
        if current > SCHEMA_VERSION:
            raise JournalError(
                f"journal schema version {current} is newer than this radsurvey knows ({SCHEMA_VERSION});"
                " upgrade radsurvey",
                source=str(path),
            )
        applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_version")}
        fresh = not applied  # a new journal is created through every step: one line says so, not one per step
        for version, description, sql in MIGRATIONS:
            if version in applied:  # by set, not by maximum: a journal may miss an earlier one
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                if callable(sql):
                    sql(conn)
                else:
                    for statement in _statements(sql):
                        conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version(version, applied_at, description) VALUES (?, ?, ?)",
                    (version, now_iso(), description),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if not fresh:
                log.info("journal migrated", version=version, description=description)
        if fresh:
            log.info("journal created", version=SCHEMA_VERSION, path=str(path))
        return SCHEMA_VERSION
    except sqlite3.DatabaseError as err:
        raise JournalError(f"cannot migrate journal: {err}", source=str(path)) from None


def _statements(sql: str) -> Iterator[str]:
    for part in sql.split(";"):
        if part.strip():
            yield part
