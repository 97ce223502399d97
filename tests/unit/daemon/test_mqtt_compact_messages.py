"""The MQTT sink's fast path (compact rows, a JSON template per context) publishes the very bytes of the views' path."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radsurvey.config import parse_config
from radsurvey.daemon.journal import Journal, connect
from radsurvey.daemon.journal.feed import JournalFeed, JournalRow
from radsurvey.daemon.sinks.mqtt import MqttSink
from radsurvey.daemon.sinks.payloads import CompactMessages, dumps, json_template, reading_payload, sample_payload


class _JournalAt:
    """What the sink needs of a journal to look up a context: its path."""

    def __init__(self, path: Path):
        self.path = path


def sink_for(path: Path) -> MqttSink:
    cfg = parse_config(
        {
            "site": {"id": "site-1"},
            "journal": {"path": str(path)},
            "meters": [{"id": "m", "driver": "simulated"}],
            "channels": [{"id": "c", "meter": "m", "room_category": 1}],
            "mqtt": {"host": "127.0.0.1"},
        },
        environ={},
    )
    sink = MqttSink(cfg, cfg.mqtt)  # type: ignore[arg-type]
    sink.journal = _JournalAt(path)  # type: ignore[assignment]
    return sink


# Floats JSON writes unlike repr (infinities; NaN, which SQLite stores as NULL), the extremes, and ordinary ones.
# A reading's value is never NaN (the journal refuses it: reading_rows.v is NOT NULL).
extremes = st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1.7976931348623157e308, 1e16, 0.1 + 0.2, 0.21, 5.0])
odd = st.one_of(st.floats(allow_nan=True, allow_infinity=True), extremes)
value = st.one_of(st.floats(allow_nan=False, allow_infinity=True), extremes)
ids = st.one_of(
    st.sampled_from(["door", "Tür 2", "détecteur-β", "门", "desk, 2", 'say "hi"', "back\\slash", "100 %", "a%rb"]),
    st.sampled_from(["infirmary", "maintenance", "None", "@@radsurvey-value:seq@@", "ratio", "tab\there"]),
    st.text(min_size=1, max_size=12),
)
json_texts = st.sampled_from(["[]", '["low battery"]', '[{"from": "cps", "factor": 0.0057}]', '["überlauf", "%d"]'])
readings = st.fixed_dictionaries(
    {
        "meter": ids,
        "value": value,
        "unit": st.sampled_from(["uGy/h", "µSv/h", "cps"]),
        "quantity": st.sampled_from(["air_kerma_rate", "ambient_dose_equivalent_rate"]),
        "status": json_texts,
        "conversions": json_texts,
        "meter_value": st.one_of(st.none(), odd),
    }
)
samples = st.fixed_dictionaries(
    {
        "channel": ids,
        "room_category": st.integers(1, 3),
        "value_uGy_h": odd,
        "mean_uGy_h": odd,
        "window_n": st.integers(0, 10_000),
        "background_uGy_h": st.sampled_from([0.1, 0.12, 0.0, -0.0, 1e-300]),
        "net_uGy_h": odd,
        "below_background": st.integers(0, 1),
        "normalised_uGy_h": st.one_of(st.none(), odd),
        "effective_uSv_h": odd,
        "limit_uSv_h": st.sampled_from([2.5, 0.5, 0.0]),
        "ratio": st.one_of(st.none(), odd),
        "formula": st.one_of(st.sampled_from(["E = 0.5 * D(100 cm)", "E = D", "E = 50 % of D"]), ids),
        "corrections": json_texts,
        "stamp_apart": st.booleans(),
    }
)


SAMPLE_KEYS = (
    "seq",
    "ts",
    "reading_seq",
    "value_uGy_h",
    "mean_uGy_h",
    "window_n",
    "net_uGy_h",
    "below_background",
    "normalised_uGy_h",
    "effective_uSv_h",
    "ratio",
)  # points.SAMPLE_MESSAGES_SQL after (seq, context id)


def fill(path: Path, pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    journal = Journal(path, commit_interval_s=0.01)
    for i, (reading, sample) in enumerate(pairs):
        ts = f"2026-03-01T10:{i // 60:02d}:{i % 60:02d}.{i * 7 % 1000:03d}Z"
        rseq = journal.append("readings", {"ts": ts, **reading})
        sample = dict(sample)
        apart = sample.pop("stamp_apart")
        sample["ts"] = f"2026-03-01T11:{i // 60:02d}:{i % 60:02d}.000Z" if apart else ts
        journal.append("samples", {"meter": reading["meter"], "reading_seq": rseq, **sample})
    journal.flush()
    journal.close()


def both_ways(path: Path) -> tuple[MqttSink, list[Any], MqttSink, list[Any]]:
    """(sink, messages) through the views' dicts and (sink, messages) through compact rows, for every row."""
    conn = connect(path, readonly=True)
    try:
        rows = [
            JournalRow(table, r["seq"], dict(r))
            for table in ("readings", "samples")
            for r in conn.execute(f"SELECT * FROM {table}")
        ]
    finally:
        conn.close()
    views = sink_for(path)
    by_views = [m for row in sorted(rows, key=lambda r: r.seq) for m in views.messages_for(row)]
    compact = sink_for(path)
    feed = JournalFeed(path, compact.tables, compact.readers)
    try:
        page = feed.read_page(0, 100_000)
    finally:
        feed.close()
    assert all(type(r.data) is tuple for r in page.rows)  # the fast path was taken
    return views, by_views, compact, compact.prepare(page.rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(readings, samples), min_size=1, max_size=10))
def test_compact_rows_publish_the_bytes_the_views_publish(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "j.sqlite"
        fill(path, pairs)
        views, by_views, compact, by_compact = both_ways(path)
    assert by_compact == by_views  # topics, payload bytes, QoS and retain, in seq order
    assert compact._meters == views._meters  # the meters' last_seen, as the meter states publish it


def test_an_ordinary_backlog_is_formatted_from_templates_and_odd_values_key_by_key(tmp_path: Path) -> None:
    ordinary = {
        "channel": "door",
        "room_category": 1,
        "value_uGy_h": 0.21,
        "mean_uGy_h": 0.2,
        "window_n": 10,
        "background_uGy_h": 0.12,
        "net_uGy_h": 0.08,
        "below_background": 0,
        "normalised_uGy_h": None,
        "effective_uSv_h": 0.04,
        "limit_uSv_h": 2.5,
        "ratio": 0.016,
        "formula": "E = 0.5 * D(100 cm)",
        "corrections": "[]",
        "stamp_apart": False,
    }
    reading = {
        "meter": "m",
        "value": 0.21,
        "unit": "uGy/h",
        "quantity": "air_kerma_rate",
        "status": "[]",
        "conversions": "[]",
        "meter_value": 0.21,
    }
    fill(tmp_path / "j.sqlite", [(reading, ordinary), (reading, {**ordinary, "effective_uSv_h": float("inf")})])
    _, by_views, compact, by_compact = both_ways(tmp_path / "j.sqlite")
    assert by_compact == by_views
    assert json.loads(by_compact[3][1])["effective_uSv_h"] == float("inf")  # JSON's Infinity, as json.dumps writes it
    assert b"Infinity" in by_compact[3][1]
    templates = compact._compact._samples
    assert [bool(t[1]) for t in templates.values()] == [True]  # one context, one template, used for both


def test_a_context_text_that_looks_like_a_placeholder_gets_no_template_and_the_same_bytes() -> None:
    context = {
        "channel": "@@radsurvey-value:seq@@",
        "meter": "m",
        "room_category": 1,
        "background_uGy_h": 0.1,
        "limit_uSv_h": 2.5,
        "formula": "E = 100 % D",
        "corrections": "[]",
    }
    row = (5, 1, 5, "2026-03-01T10:00:00.000Z", 4, 0.2, 0.2, 3, 0.1, "false", None, 0.05, 0.02)
    view = dict(zip(SAMPLE_KEYS, row[2:], strict=True))
    for channel, templated in (("@@radsurvey-value:seq@@", False), ("100 % door", True)):
        messages = CompactMessages("radsurvey/s")
        got = messages.sample(row, {**context, "channel": channel})
        want = dumps(sample_payload({**context, **view, "channel": channel, "below_background": False}))
        assert got == (f"radsurvey/s/channels/{channel}/sample", want, 1, False)
        assert bool(messages._samples[(1, False)][1]) is templated


def test_a_template_holds_each_placeholder_once_in_the_rows_order() -> None:
    context = {"meter": "m", "unit": "cps", "quantity": "q", "status": "[]", "conversions": "[]"}
    values = [("seq", "%r"), ("ts", '"%s"'), ("value", "%r")]
    template = json_template(reading_payload, {**context, "meter_value": None}, values)
    assert template == (
        '{"seq":%r,"ts":"%s","meter":"m","value":%r,"unit":"cps","quantity":"q","status":[],'
        '"meter_value":null,"conversions":[]}'
    )
    assert json_template(reading_payload, {**context, "meter_value": None}, values[::-1]) == ""
