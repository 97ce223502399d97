"""The journal feed gives committed rows after a cursor, across tables, in seq order, without gaps."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsurvey.daemon.journal import Journal, points
from radsurvey.daemon.journal.feed import JournalFeed, PageRows, Reader

# The readings read as they are (the views' dicts), and through the InfluxDB sink's own reader: plain
# tuples, kept per table (PageRows) and cut at the page's end by seq like the views' rows.
READERS = pytest.mark.parametrize(
    "readers", [{}, {"readings": Reader(points.READINGS_SQL, points.R_SEQ)}], ids=["views", "own reader"]
)


def in_order(page: PageRows | list) -> list[int]:  # type: ignore[type-arg]
    """The page's seqs; its first and last row (taken apart from the rest by a PageRows) agree with them."""
    seqs = [r.seq for r in page]
    assert seqs == sorted(seqs)
    if seqs:
        assert (page[0].seq, page[-1].seq, len(page)) == (seqs[0], seqs[-1], len(seqs))
    return seqs


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
        page = feed.read_page(cursor, 4).rows
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


def meter_event() -> dict[str, object]:
    return {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "state": "disconnected"}


def reading_row(i: int) -> dict[str, object]:
    return {"ts": f"2026-01-01T00:00:{i:02d}.000Z", "meter": "m", "value": 1.0, "unit": "uGy/h", "quantity": "q"}


def test_a_read_that_finds_nothing_more_lets_the_cursor_pass_rows_of_other_tables(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    first = journal.append("readings", reading_row(1))
    events = [journal.append("meter_events", meter_event()) for _ in range(3)]
    journal.flush()
    feed = JournalFeed(journal.path, ["readings"])  # a sink that does not publish meter events
    page = feed.read_page(0, 10)
    assert [r.seq for r in page.rows] == [first] and page.upto == events[-1]
    empty = feed.read_page(first, 10)
    assert empty.rows == [] and empty.upto == events[-1]
    assert feed.read_page(events[-1], 10).upto == events[-1], "never behind the cursor"
    feed.close()
    journal.close()


def test_a_full_page_moves_the_cursor_only_to_its_last_row(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    seqs = [journal.append("readings", reading_row(i)) for i in range(5)]
    journal.append("meter_events", meter_event())
    journal.flush()
    feed = JournalFeed(journal.path, ["readings", "meter_events"])
    page = feed.read_page(0, 3)
    assert [r.seq for r in page.rows] == seqs[:3] and page.upto == seqs[2]
    feed.close()
    journal.close()


def test_seqs_stay_above_every_cursor_after_retention_emptied_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.01) as journal:
        top = [journal.append("readings", reading_row(i)) for i in range(4)][-1]
        journal.execute_now("INSERT INTO sink_cursors(sink, seq, updated_at) VALUES ('influxdb', ?, 'x')", (top,))
        journal.execute_now("DELETE FROM reading_rows")  # what retention does once every sink acknowledged
    with Journal(path, commit_interval_s=0.01) as journal:
        assert journal.append("readings", reading_row(9)) > top, "a new row below the cursor would never be sent"


@READERS
def test_pages_of_interleaved_tables_are_full_and_every_row_comes_once_in_order(
    tmp_path: Path, readers: dict[str, Reader]
) -> None:
    import random

    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    rng = random.Random(7)
    seqs = []
    for i in range(300):
        if rng.random() < 0.6:
            row = {"ts": f"2026-01-01T00:00:00.{i % 1000:03d}Z", "meter": "m", "value": 1.0, "unit": "uGy/h",
                   "quantity": "air_kerma_rate"}  # fmt: skip
            seqs.append(journal.append("readings", row))
        else:
            event = {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "state": "connected"}
            seqs.append(journal.append("meter_events", event))
    journal.flush()
    feed = JournalFeed(journal.path, ["readings", "meter_events"], readers)
    # With a commit listener's seq just short of a full page, the tables are read without the page's
    # bound, each up to the limit: the page is then cut to the limit in seq order.
    for limit, hinted in [(n, h) for n in (1, 7, 50, 299, 300, 1000) for h in (False, True)]:
        got: list[int] = []
        cursor = 0
        while True:
            page = feed.read_page(cursor, limit, committed_seq=cursor + limit - 1 if hinted else None)
            if not page.rows:
                break
            assert len(page.rows) == min(limit, len(seqs) - len(got)), "a page is as full as the rows allow"
            assert page.upto == page.rows[-1].seq or page.upto >= seqs[-1]
            got.extend(in_order(page.rows))
            cursor = page.upto
        assert got == sorted(seqs), f"limit {limit}, hinted {hinted}"
    feed.close()
    journal.close()


@READERS
def test_a_committed_seq_hint_gives_the_same_pages_and_never_moves_the_cursor_past_an_unread_row(
    tmp_path: Path, readers: dict[str, Reader]
) -> None:
    """A sink passes the seq its commit listener saw; behind the journal's top or not, no row is lost or reordered."""
    import random

    journal = Journal(tmp_path / "j.sqlite", commit_interval_s=0.01)
    rng = random.Random(11)
    seqs, others = [], []
    for i in range(200):
        if rng.random() < 0.5:
            row = {"ts": f"2026-01-01T00:00:00.{i % 1000:03d}Z", "meter": "m", "value": 1.0, "unit": "uGy/h",
                   "quantity": "air_kerma_rate"}  # fmt: skip
            seqs.append(journal.append("readings", row))
        else:  # a table this feed does not read: its seqs only move the cursor
            others.append(journal.append("meter_events", {"ts": "2026-01-01T00:00:00.000Z", "meter": "m",
                                                          "state": "connected"}))  # fmt: skip
    journal.flush()
    top = max(seqs[-1], others[-1])
    feed = JournalFeed(journal.path, ["readings"], readers)
    for limit in (1, 3, 50, 1000):
        for lag in (0, 1, 5, 40):  # how far the listener's seq is behind what the snapshot holds
            got: list[int] = []
            cursor = 0
            while True:
                hint = max(0, min(top, cursor + rng.randint(0, 2 * limit)) - lag)
                page = feed.read_page(cursor, limit, committed_seq=hint)
                assert len(page.rows) <= limit
                assert all(cursor < r.seq <= page.upto for r in page.rows)
                assert not [s for s in seqs if cursor < s <= page.upto and s not in {r.seq for r in page.rows}]
                got.extend(in_order(page.rows))
                if page.upto == cursor:
                    break
                cursor = page.upto
            assert got == seqs, f"limit {limit}, lag {lag}"
            assert cursor >= min(top - lag, seqs[-1])
    feed.close()
    journal.close()


# A sink stops (its task cancelled) while a page read runs in a worker thread: the sink's detach closes the
# feed from the event loop. Closed under the reading thread, SQLite crashed the process (the same pattern
# crashed the alarms' restore), so this runs in a child process and checks that it ends well.
CLOSE_DURING_READ = r"""
import sqlite3, sys, threading, time
from pathlib import Path
from radsurvey.daemon.journal import Journal
from radsurvey.daemon.journal.feed import JournalFeed

path = Path(sys.argv[1])
journal = Journal(path, commit_interval_s=0.01)
for i in range(2000):
    journal.append("readings", {"ts": "2026-01-01T00:00:00.000Z", "meter": "m", "value": 1.0, "unit": "uGy/h",
                                "quantity": "air_kerma_rate"})
journal.flush()
journal.close()
feed = JournalFeed(path, ["readings"])
reading, release = threading.Event(), threading.Event()

def hold() -> int:  # called by SQLite in the reading thread while its statement runs
    reading.set()
    release.wait(10)
    return 0

feed.connection().set_progress_handler(hold, 1000)
outcome = []

def read() -> None:
    try:
        outcome.append(len(feed.read_page(0, 1000).rows))
    except sqlite3.Error as err:
        outcome.append(type(err).__name__ + ": " + str(err))

reader = threading.Thread(target=read)
reader.start()
assert reading.wait(10), "the read never started"
closer = threading.Thread(target=feed.close)
closer.start()
time.sleep(0.2)  # the close runs now, while the read is held mid-statement
release.set()
reader.join(10)
closer.join(10)
assert not reader.is_alive() and not closer.is_alive()
print("OUT", outcome[0])
try:
    feed.read_page(0, 10)
except sqlite3.ProgrammingError as err:
    print("OUT closed:", err)
"""


def test_closing_the_feed_during_a_read_interrupts_and_waits_for_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", CLOSE_DURING_READ, str(tmp_path / "j.sqlite")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    first, second = [line[4:] for line in done.stdout.splitlines() if line.startswith("OUT ")]
    assert first in ("OperationalError: interrupted", "1000")  # interrupted, or it had ended: never a crash
    assert second.startswith("closed:") and "closed" in second[8:]
