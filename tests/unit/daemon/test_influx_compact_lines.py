"""The InfluxDB sink's fast path (compact rows + a template per series) writes the very lines of the views' path."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radsurvey.config import parse_config
from radsurvey.daemon.journal import Journal, connect, points
from radsurvey.daemon.sinks.base import JournalFeed
from radsurvey.daemon.sinks.influx import InfluxSink
from radsurvey.daemon.sinks.payloads import INFLUX_ROUTES, CompactLines, InfluxContext

CTX = InfluxContext(site="site.1", channel_heights_cm={"door": 100.0})

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
odd = st.one_of(finite, st.sampled_from([float("inf"), float("-inf"), 0.0, -0.0, 1e-300, 5.0, 1e308, 1e16, 1e-5]))
sample_values = st.fixed_dictionaries(
    {
        "value_uGy_h": odd,
        "mean_uGy_h": odd,
        "window_n": st.integers(1, 1000),
        "background_uGy_h": st.sampled_from([0.1, 0.12, 0.0]),  # a config value: finite
        "normalised_uGy_h": st.one_of(st.none(), finite),
        "effective_uSv_h": odd,
        "limit_uSv_h": st.sampled_from([2.5, 0.5, 0.0]),
        "ratio": odd,
        "net_uGy_h": odd,
        "below_background": st.integers(0, 1),
        "room_category": st.integers(1, 3),
        "formula": st.sampled_from(["E = 0.5 * D(100 cm)", "E = D"]),
        "channel": st.sampled_from(["door", "desk, 2", "wall=3", "50% door", "info"]),
        "stamp_apart": st.booleans(),
        # net, below and ratio as the journal derives them: no sample_extra row, unless stamped apart
        "derived": st.booleans(),
    }
)


def fill(path: Path, samples: list[dict[str, Any]]) -> Journal:
    """The samples (and a reading for each) committed to a journal at ``path``; the journal is left open."""
    journal = Journal(path, commit_interval_s=0.01)
    for i, values in enumerate(samples):
        values = dict(values)
        ts = f"2026-03-01T10:{i // 60:02d}:{i % 60:02d}.{i % 1000:03d}Z"
        rseq = journal.append(
            "readings",
            {
                "ts": ts,
                "meter": f"m {i % 2}" if i % 3 else "m% 2",
                "value": values["value_uGy_h"] if i % 3 else 0.25,
                "unit": "uGy/h" if i % 2 else "µSv/h",
                "quantity": "air_kerma_rate",
                "meter_value": 1.0,
            },
        )
        apart = values.pop("stamp_apart")
        if values.pop("derived"):
            diff = values["mean_uGy_h"] - values["background_uGy_h"]
            limit = values["limit_uSv_h"]
            values.update(
                net_uGy_h=max(diff, 0.0),
                below_background=int(diff < 0),
                ratio=values["effective_uSv_h"] / limit if limit else None,
            )
        values["ts"] = f"2026-03-01T11:{i // 60:02d}:{i % 60:02d}.000Z" if apart else ts
        journal.append("samples", {"meter": f"m {i % 2}", "reading_seq": rseq, "corrections": "[]", **values})
    journal.flush()
    return journal


def sink_for(journal: Journal) -> InfluxSink:
    """An InfluxDB sink of site ``site.1`` with channel ``door`` at 100 cm, reading ``journal`` (no server)."""
    cfg = parse_config(
        {
            "site": {"id": CTX.site},
            "meters": [{"id": "m1", "driver": "simulated"}],
            "channels": [{"id": "door", "meter": "m1", "room_category": 1, "height_cm": 100}],
            "influxdb": {"bucket": "radsurvey"},
        },
        environ={},
    )
    assert cfg.influxdb is not None
    sink = InfluxSink(cfg, cfg.influxdb)
    sink.journal = journal
    return sink


def lines_three_ways(journal: Journal, page_size: int = 100_000) -> tuple[list[str], list[str], list[str]]:
    """The lines built field by field through the views, row by row from the compact rows, and by pages."""
    conn = connect(journal.path, readonly=True)
    try:
        view_lines = [
            INFLUX_ROUTES[table](dict(row), CTX)
            for table in ("readings", "samples")
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY seq")
        ]
        readings, samples = points.reading_contexts(conn), points.sample_contexts(conn)
    finally:
        conn.close()
    sink = sink_for(journal)
    feed = JournalFeed(journal.path, ["readings", "samples"], sink.readers)
    rows = feed.read_page(0, 100_000).rows
    compact = CompactLines(CTX)
    one_by_one = [
        compact.sample(r.data, samples[r.data[points.S_KEY] // 2])
        if r.table == "samples"
        else compact.reading(r.data, readings[r.data[points.R_KEY]])
        for r in rows
    ]
    paged: list[str] = []
    after = 0
    while page := feed.read_page(after, page_size).rows:
        count, body = sink.prepare(page)
        paged.extend(body.decode().split("\n"))
        assert count == len(page)
        after = page[-1].seq
    feed.close()
    return sorted(view_lines), sorted(one_by_one), sorted(paged)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sample_values, min_size=1, max_size=12), st.integers(1, 30))
def test_compact_rows_give_the_lines_the_views_give(samples: list[dict[str, Any]], page_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        journal = fill(Path(tmp) / "j.sqlite", samples)
        try:
            view_lines, one_by_one, paged = lines_three_ways(journal, page_size)
        finally:
            journal.close()
    assert one_by_one == view_lines
    assert paged == view_lines


def test_a_value_line_protocol_cannot_carry_is_left_out_as_the_views_path_leaves_it(tmp_path: Path) -> None:
    row = {
        "value_uGy_h": float("inf"),
        "mean_uGy_h": 0.3,
        "window_n": 3,
        "background_uGy_h": 0.1,
        "normalised_uGy_h": None,
        "effective_uSv_h": 0.1,
        "limit_uSv_h": 0.0,  # ratio has no value: E / 0
        "ratio": float("inf"),
        "net_uGy_h": 0.2,
        "below_background": 0,
        "room_category": 1,
        "formula": "E = D",
        "channel": "door",
        "stamp_apart": False,
        "derived": False,
    }
    journal = fill(tmp_path / "j.sqlite", [row])
    try:
        view_lines, one_by_one, paged = lines_three_ways(journal)
    finally:
        journal.close()
    assert one_by_one == view_lines and paged == view_lines
    sample = next(line for line in paged if line.startswith("sample"))
    assert "value_uGy_h=" not in sample and "ratio=" not in sample and "height=100" in sample
