"""The journal feed gives committed rows after a cursor, across tables, in seq order, without gaps."""

from __future__ import annotations

from pathlib import Path

from radsurvey.daemon.journal import Journal
from radsurvey.daemon.sinks.base import JournalFeed


def test_rows_after_the_cursor_come_in_seq_order_across_tables_and_pages(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    seqs = []
    for i in range(25):
        seqs.append(
            journal.append(
                "readings",
                {
                    "ts": f"2026-01-01T00:00:{i:02d}.000Z",
                    "meter": "m",
                    "value": 1.0,
                    "unit": "uGy/h",
                    "quantity": "air_kerma_rate",
                },
            )
        )
        if i % 3 == 0:
            seqs.append(
                journal.append("meter_events", {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "state": "connected"})
            )
    journal.flush()
    feed = JournalFeed(journal.path, ["readings", "meter_events", "alarm_events_not_yet_there"])
    got: list[int] = []
    cursor = 0
    for _ in range(100):
        page = feed.read_after(cursor, 4)
        if not page:
            break
        assert len(page) <= 4
        got.extend(r.seq for r in page)
        cursor = page[-1].seq
    feed.close()
    journal.close()
    assert got == sorted(seqs)


def test_a_missing_cursor_starts_at_zero_and_a_stored_one_is_loaded(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    journal.execute_now("INSERT INTO sink_cursors(sink, seq, updated_at) VALUES ('mqtt', 42, 'x')")
    journal.flush()
    feed = JournalFeed(journal.path, ["readings"])
    assert feed.load_cursor("mqtt") == 42 and feed.load_cursor("influxdb") == 0
    feed.close()
    journal.close()
