"""The journal: SQLite (WAL), the single source of truth (docs/architecture.md#the-journal).

A package: ``times`` (the journal's time format), ``seek`` (time -> seq, the one
bisection), ``schema`` (connections, migrations, the compact tables and the
``readings``/``samples`` views for SQL users), ``rows`` (typed readings, samples and events -> columns),
``codec`` (columns <-> compact rows), ``aggregates`` (minute,
hour and yearly dose record), ``writer`` (the writer thread), ``queries``
(read-only functions other packages use: stats, tail, series, dose, export,
tiers), ``retention`` (the tiered deletes) and ``spill`` (rows a stop could not
commit). Runtime code appends with ``Journal.append_reading``/``append_sample``/``append_meter_event``/
``append_alarm_event``.
"""

from radsurvey.protocols.errors import JournalError

from .queries import dose, export_rows, reader, series, stats, tail, tiers
from .schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    SEQ_TABLES,
    STORED,
    STORED_SEQ_TABLES,
    ReadConnection,
    ReadError,
    connect,
    max_seq,
    migrate,
    now_iso,
    schema_version,
)
from .writer import Journal

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SEQ_TABLES",
    "STORED",
    "STORED_SEQ_TABLES",
    "Journal",
    "JournalError",
    "ReadConnection",
    "ReadError",
    "connect",
    "dose",
    "export_rows",
    "max_seq",
    "migrate",
    "now_iso",
    "reader",
    "schema_version",
    "series",
    "stats",
    "tail",
    "tiers",
]
