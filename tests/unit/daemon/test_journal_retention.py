"""Tiered retention: raw rows go after raw_days once every sink acknowledged them, aggregates and the
yearly dose record stay; trends, dose sums and dose budgets read the aggregates where raw rows are gone."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from radsurvey.config import parse_config
from radsurvey.daemon.journal import Journal, dose, series
from radsurvey.daemon.journal.queries import dose_record
from radsurvey.daemon.sinks.base import CursorSink
from radsurvey.daemon.sinks.hub import RetentionService, SinkHub

from .test_journal_compact import iso, reading_row, sample_row

STEP_S = 20
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(days=32)
END = NOW - timedelta(days=28)


def fill(path: Path) -> int:
    """Two channels, one sample every 20 s from 32 to 28 days ago; returns the last seq."""
    top = 0
    with Journal(path, commit_interval_s=0.05, batch_size=5000) as j:
        t = START
        i = 0
        while t < END:
            for ch in ("a", "b"):
                value = 0.1 + (i % 13) * 0.05 + (0.5 if ch == "b" else 0.0)
                rseq = j.append("readings", reading_row(t, "m" + ch, value))
                top = j.append("samples", sample_row(t, ch, rseq, value, value, 0.0, None, 13.0))
            t += timedelta(seconds=STEP_S)
            i += 1
    return top


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("ret") / "j.sqlite"
    return path, fill(path)


def copy_of(filled: tuple[Path, int], tmp_path: Path) -> tuple[Path, int]:
    import shutil

    path = tmp_path / "j.sqlite"
    shutil.copy(filled[0], path)
    return path, filled[1]


async def retention(
    path: Path, cfg: dict[str, Any], cursors: dict[str, int], extra: dict[str, Any] | None = None
) -> None:
    config = parse_config({"site": {"id": "s"}, "retention": cfg, **(extra or {})}, environ={})
    hub = SinkHub(config)
    for name, seq in cursors.items():
        sink = hub.add(CursorSink(name=name, tables=("readings", "samples"), batch_size=10))  # type: ignore[misc]
        sink.cursor = seq
    with Journal(path, commit_interval_s=0.01) as journal:
        for _ in range(200):  # each pass deletes a bounded number of rows
            before = hub.deleted_rows
            await RetentionService(hub).pass_once(SimpleNamespace(journal=journal))  # type: ignore[arg-type]
            if hub.deleted_rows == before:
                break


def aggregates(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    return {
        t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in ("agg_minute", "agg_hour", "dose_year")
    }


def raw_times(path: Path) -> list[str]:
    return [r[0] for r in sqlite3.connect(path).execute("SELECT ts FROM samples ORDER BY seq")]


async def test_raw_rows_older_than_raw_days_go_and_aggregates_and_the_dose_record_stay(
    filled: tuple[Path, int], tmp_path: Path
) -> None:
    path, top = copy_of(filled, tmp_path)
    before_times, before_aggs = raw_times(path), aggregates(path)
    await retention(path, {"raw_days": 30}, {"mqtt": top, "influxdb": top})
    after = raw_times(path)
    # the pass ran between NOW and now: its cutoff lies between the two, 30 days back
    kept_from = len(before_times) - len(after)
    assert 0 < kept_from < len(before_times)
    assert after == before_times[kept_from:], "the newest rows stay, in order"
    assert after[0] >= iso(NOW - timedelta(days=30)), "nothing older than 30 days is left"
    assert before_times[kept_from - 1] < iso(datetime.now(UTC) - timedelta(days=30)), "only older rows went"
    assert aggregates(path) == before_aggs, "minute and hour aggregates and the dose record stay"
    readings = sqlite3.connect(path).execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    assert readings == len(after), "every remaining sample still has its reading"


async def test_nothing_a_sink_has_not_acknowledged_is_removed(filled: tuple[Path, int], tmp_path: Path) -> None:
    path, top = copy_of(filled, tmp_path)
    behind = top // 10
    await retention(path, {"raw_days": 30}, {"mqtt": top, "influxdb": behind})
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT MIN(seq) FROM readings").fetchone()[0] == behind + 1
    assert conn.execute("SELECT MIN(seq) FROM samples").fetchone()[0] > behind


async def test_minute_aggregates_go_after_minute_days_hours_and_years_stay(
    filled: tuple[Path, int], tmp_path: Path
) -> None:
    path, top = copy_of(filled, tmp_path)
    before = aggregates(path)
    await retention(path, {"raw_days": 29, "minute_days": 30}, {"mqtt": top})
    after = aggregates(path)
    earliest = (NOW - timedelta(days=30)).timestamp() * 1000  # the pass ran between NOW and now
    latest = (datetime.now(UTC) - timedelta(days=30)).timestamp() * 1000
    gone = [r for r in before["agg_minute"] if r not in after["agg_minute"]]
    assert gone and all(r[-1] < latest for r in gone), "minute buckets older than minute_days go"
    assert all(r[-1] >= earliest for r in after["agg_minute"])
    assert set(after["agg_minute"]) <= set(before["agg_minute"])
    assert after["agg_hour"] == before["agg_hour"] and after["dose_year"] == before["dose_year"]


async def test_dose_and_trends_read_the_aggregates_where_raw_rows_are_gone(
    filled: tuple[Path, int], tmp_path: Path
) -> None:
    path, top = copy_of(filled, tmp_path)
    start = (NOW - timedelta(days=31)).replace(second=0)
    end = (NOW - timedelta(days=29)).replace(second=0)
    raw = {ch: dose(path, ch, start, end) for ch in ("a", "b")}
    trend_raw = series(path, "a", start, end)
    assert trend_raw["tier"] == "raw"
    await retention(path, {"raw_days": 30}, {"mqtt": top})
    for ch in ("a", "b"):
        agg = dose(path, ch, start, end)
        assert agg["tiers"][0] == "minute" and "raw" in agg["tiers"]
        # the range starts and ends on a minute: the same samples, summed in another order
        assert agg["dose_uSv"] == pytest.approx(raw[ch]["dose_uSv"], rel=1e-12)
        assert agg["covered_s"] == pytest.approx(raw[ch]["covered_s"], rel=1e-12)
        assert agg["max_uSv_h"] == raw[ch]["max_uSv_h"]
    trend = series(path, "a", start, end)
    assert trend["tier"] == "minute"
    # each minute's mean, min and max are those of the raw samples it summarised
    by_minute: dict[str, list[float]] = {}
    for p in trend_raw["points"]:
        by_minute.setdefault(p["t"][:16], []).append(p["mean"])
    assert len(trend["points"]) == len(by_minute)
    for p in trend["points"]:
        values = by_minute[p["t"][:16]]
        assert (p["n"], p["min"], p["max"]) == (len(values), min(values), max(values))
        assert p["mean"] == pytest.approx(sum(values) / len(values), rel=1e-12)
    record = {(r["channel"], r["year"]) for r in dose_record(path)}
    assert {ch for ch, _ in record} == {"a", "b"}


async def test_a_dose_budget_restored_after_retention_counts_the_whole_period(tmp_path: Path) -> None:
    """The alarm service's dose budget, restored with no snapshot, equals the one restored from raw rows."""
    from radsurvey.daemon.alarms.service import AlarmService

    path = tmp_path / "j.sqlite"
    # a period of 8 days ending now: samples every 20 s from 8 days ago
    begin = NOW - timedelta(days=8)
    with Journal(path, commit_interval_s=0.05, batch_size=5000) as j:
        t, i = begin + timedelta(seconds=1), 0
        while t < NOW - timedelta(seconds=5):
            value = 2.0 + (i % 5) * 0.5
            rseq = j.append("readings", reading_row(t, "mw", value))
            top = j.append("samples", sample_row(t, "w", rseq, value, value, 0.0, None, 1.3))
            t += timedelta(seconds=STEP_S)
            i += 1
    cfg = parse_config(
        {
            "site": {"id": "s"},
            "meters": [{"id": "mw", "driver": "simulated"}],
            "channels": [
                {
                    "id": "w",
                    "meter": "mw",
                    "room_category": 5,
                    "alarms": [{"kind": "dose_budget", "start": iso(begin)[:10], "max_gap_s": 60}],
                }
            ],
        },
        environ={},
    )

    def restored() -> float:
        service = AlarmService(cfg, now=lambda: NOW.timestamp())
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        service.restore(conn)
        rule = next(r for r in service.by_key.values() if r.budget is not None)
        assert rule.budget is not None and rule.budget.s is not None
        return rule.budget.s.dose_uSv

    from_raw = restored()
    await retention(path, {"raw_days": 3}, {"mqtt": top})
    assert sqlite3.connect(path).execute("SELECT MIN(ts) FROM samples").fetchone()[0] > iso(NOW - timedelta(days=4))
    assert from_raw > 0
    assert restored() == pytest.approx(from_raw, rel=1e-9)


def test_journal_cli_stats_shows_tiers_and_export_writes_csv(filled: tuple[Path, int], tmp_path: Path) -> None:
    import csv
    import json

    path, _ = copy_of(filled, tmp_path)
    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    out = subprocess.run(
        [radsurvey, "journal", "stats", "-j", str(path), "--json"], capture_output=True, text=True, check=True
    )
    tiers = json.loads(out.stdout)["tiers"]
    assert set(tiers) == {"raw", "minute", "hour", "year"}
    assert tiers["raw"]["rows"] == sqlite3.connect(path).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    # START is fixed when the module loads; the suite may reach this test many minutes later.
    age_days = (datetime.now(UTC) - START).total_seconds() / 86400
    assert tiers["raw"]["oldest_age_days"] == pytest.approx(age_days, abs=0.001)
    start, end = iso(START + timedelta(hours=1)), iso(START + timedelta(hours=2))
    csv_path = tmp_path / "out.csv"
    subprocess.run(
        [
            radsurvey,
            "journal",
            "export",
            "-j",
            str(path),
            "--from",
            start,
            "--to",
            end,
            "--format",
            "csv",
            "-o",
            str(csv_path),
        ],
        check=True,
        capture_output=True,
    )
    with csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3600 // STEP_S
    assert all(start <= r["ts"] < end for r in rows)
    bad = subprocess.run(
        [radsurvey, "journal", "export", "-j", str(path), "--from", start, "--to", end, "--format", "xlsx"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "--format xlsx" in bad.stderr


async def test_raw_rows_stay_as_long_as_a_rolling_dose_budget_replays_them(
    filled: tuple[Path, int], tmp_path: Path
) -> None:
    path, top = copy_of(filled, tmp_path)
    before = raw_times(path)
    channels = {
        "meters": [{"id": "ma", "driver": "simulated"}],
        "channels": [
            {
                "id": "a",
                "meter": "ma",
                "room_category": 1,
                "alarms": [{"kind": "dose_budget", "period": "13_weeks", "level_mSv": 1.0}],
            }
        ],
    }
    await retention(path, {"raw_days": 30}, {"mqtt": top}, channels)
    assert raw_times(path) == before, "a 13-week budget replays 91 days of raw samples after a restart"


async def test_web_trends_read_the_aggregates_and_agree_with_the_raw_samples(
    filled: tuple[Path, int], tmp_path: Path
) -> None:
    from radsurvey.daemon.journal import connect, times
    from radsurvey.daemon.journal import trends as jq

    path, top = copy_of(filled, tmp_path)
    # a range ending on a whole minute: the aggregates' resolution (a minute) does not show
    start, end = NOW - timedelta(days=31), (NOW - timedelta(days=29)).replace(second=0)
    conn = sqlite3.connect(path)
    raw: dict[str, list[float]] = {}
    for ts, e in conn.execute("SELECT ts, effective_uSv_h FROM samples WHERE channel = 'a' ORDER BY seq"):
        t = datetime.fromisoformat(ts.replace("Z", "+00:00"))
        if jq.floor_to(start, 600) <= t < end:
            raw.setdefault(times.text(jq.floor_to(t, 600)), []).append(e)
    conn.close()

    def trend() -> list[tuple[str, int, float, float, float]]:
        c = connect(path, readonly=True)
        try:
            return jq.trend(c, "a", start, end, bucket_s=600).buckets
        finally:
            c.close()

    before = trend()
    await retention(path, {"raw_days": 30}, {"mqtt": top})
    after = trend()
    assert [b[:3] + b[4:] for b in after] == [b[:3] + b[4:] for b in before]
    assert [b[0] for b in before] == sorted(raw)
    for t, n, lo, mean, hi in after:
        values = raw[t]
        assert (n, lo, hi) == (len(values), min(values), max(values))
        assert mean == pytest.approx(sum(values) / len(values), rel=1e-12)
