"""Every query of the shipped Grafana dashboards, run against real InfluxDB 1.x and VictoriaMetrics.

Two sites (two real ``radsurvey run`` processes per database, simulated meters
with a beam schedule that raises and clears an ``instant`` alarm, and a meter
that never connects, raising ``disconnected``) and one QC laptop's published
surveys fill the databases. The queries are read from the JSON files in
dashboards/grafana/ themselves, Grafana's macros substituted as Grafana does,
and each answer is compared with what the daemons' own journals say it must be.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from radsurvey.daemon.sinks.payloads import ALARM_STATE_CODES, ts_ms, ts_ns
from tests.fleet_sites import beam_site
from tests.servers import InfluxDB1, VictoriaMetrics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "dashboards" / "grafana"
RADSURVEY = str(Path(sys.executable).parent / "radsurvey")
WORKED_EXAMPLE = REPO / "protocols" / "examples" / "worked-example.json"
SITES = ("room-a", "room-b")
QC_SITE = "qc-laptop"
SURVEYS = ("S-A", "S-B")
INTERVAL_S = 1  # what Grafana would pick for $__interval on a narrow panel over this short range
VM_TAIL_S = 3  # seconds at the end of the data where a MetricsQL window's answer depends on timing
DB = "radsurvey"


def site_config(site: str, seed: int, journal: Path, influx: str) -> str:
    """A room with the alarm schedule, plus a meter that never connects (its channel's ``disconnected`` fault)."""
    never = journal.parent / "no-such-port"
    return (
        beam_site(site, seed, journal, poll_interval_s=0.1, window_s=0.3)
        + f"""
[[meters]]
id = "desk"
driver = "gmc"
port = "{never}"

[[channels]]
id = "control-desk"
meter = "desk"
room_category = 1

[[channels.alarms]]
kind = "equipment"
check = "disconnected"
after_s = 0.5

{influx}
"""
    )


@dataclass
class Filled:
    influx: InfluxDB1
    vm: VictoriaMetrics
    journals: dict[str, dict[str, Path]]  # database -> site -> journal
    survey_journals: dict[str, Path]  # database -> the QC laptop's survey journal
    from_ms: int
    to_ms: int


def rows(journal: Path, sql: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql)]


def ready(journal: Path) -> bool:
    """Enough data for every panel: samples over several seconds, two alarm episodes, the fault."""
    if not journal.exists():
        return False
    try:
        (samples,) = rows(journal, "SELECT COUNT(*) AS n FROM samples")
        transitions = rows(journal, "SELECT rule, state FROM alarm_events WHERE event = 'transition'")
    except sqlite3.OperationalError:
        return False
    instant = [t for t in transitions if t["rule"] == "instant"]
    return samples["n"] >= 70 and len(instant) >= 4 and any(t["rule"] == "disconnected" for t in transitions)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Filled]:
    tmp = tmp_path_factory.mktemp("dashboards")
    influx, vm = InfluxDB1(tmp / "influxd"), VictoriaMetrics(tmp / "vm")
    influx.start()
    vm.start()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        influx.create_database(DB)
        sections = {
            "influxdb1": f'[influxdb]\napi = "v1"\nurl = "{influx.url}"\ndatabase = "{DB}"\nflush_interval_s = 0.1\n',
            "victoria": f'[influxdb]\nurl = "{vm.url}"\nflush_interval_s = 0.1\n',
        }
        journals: dict[str, dict[str, Path]] = {db: {} for db in sections}
        from_ms = int(time.time() * 1000) - 2000
        for db, section in sections.items():
            for seed, site in enumerate(SITES, start=1):
                work = tmp / db / site
                work.mkdir(parents=True)
                journal = work / "journal.sqlite"
                cfg = work / "radsurvey.toml"
                cfg.write_text(site_config(site, seed, journal, section), encoding="utf-8")
                journals[db][site] = journal
                log = open(work / "daemon.log", "wb")
                procs.append(subprocess.Popen([RADSURVEY, "run", "--config", str(cfg)], stdout=log, stderr=log))
                log.close()
        survey_journals = {db: publish_surveys(tmp / db / "qc", section) for db, section in sections.items()}
        deadline = time.monotonic() + 60
        every = [j for by_site in journals.values() for j in by_site.values()]
        while not all(ready(j) for j in every):
            assert time.monotonic() < deadline, "the daemons did not record enough within 60 s"
            assert all(p.poll() is None for p in procs), "a daemon exited early"
            time.sleep(0.2)
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            assert p.wait(timeout=60) == 0
        for journal in every:
            (cursor,) = rows(journal, "SELECT seq FROM sink_cursors WHERE sink = 'influxdb'")
            (top,) = rows(journal, "SELECT MAX(seq) AS seq FROM samples")
            assert cursor["seq"] >= top["seq"], f"{journal}: the InfluxDB sink stopped before it had everything"
        vm.flush()
        yield Filled(influx, vm, journals, survey_journals, from_ms, int(time.time() * 1000) + 1000)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        influx.stop()
        vm.stop()


def publish_surveys(work: Path, section: str) -> Path:
    """The QC laptop: two surveys imported into its survey journal and published to the database."""
    work.mkdir(parents=True)
    cfg = work / "publish.toml"
    cfg.write_text(f'[site]\nid = "{QC_SITE}"\n\n{section}', encoding="utf-8")
    env = {**os.environ, "RADSURVEY_SURVEY_JOURNAL": str(work / "surveys.sqlite")}
    for survey in SURVEYS:
        done = subprocess.run(
            [RADSURVEY, "survey", "import", str(WORKED_EXAMPLE), "--id", survey],
            capture_output=True, text=True, timeout=60, env=env, cwd=work,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [RADSURVEY, "survey", "publish", "--config", str(cfg), "--timeout", "30"],
        capture_output=True, text=True, timeout=90, env=env, cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return work / "surveys.sqlite"


# -- the dashboards' queries, as Grafana sends them -------------------------------------------------


def dashboard(language: str, slug: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((GRAFANA / language / f"{slug}.json").read_text(encoding="utf-8"))
    return board


def regex_value(values: list[str]) -> str:
    """A variable's value inside a regex, as Grafana formats it: escaped, several as (a|b)."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def substitute(text: str, variables: dict[str, list[str]], filled: Filled) -> str:
    out = text
    out = out.replace("$timeFilter", f"time >= {filled.from_ms}ms and time <= {filled.to_ms}ms")
    out = out.replace("$__interval", f"{INTERVAL_S}s")
    out = out.replace("$__range", f"{math.ceil((filled.to_ms - filled.from_ms) / 1000)}s")
    for name in sorted(variables, key=len, reverse=True):
        out = out.replace(f"${name}", regex_value(variables[name]))
    assert not re.search(r"\$(?!tag_)[\w{]", out), f"a macro left unsubstituted in {out!r}"
    return out


def influxql(filled: Filled, q: str) -> list[dict[str, Any]]:
    """Every series of the answer: {"tags", "columns", "values"} (times in ns)."""
    out = []
    for result in filled.influx.query(q, db=DB):
        for series in result.get("series", []) or []:  # type: ignore[attr-defined]
            out.append({"tags": series.get("tags", {}), "columns": series["columns"], "values": series["values"]})
    return out


def vm_get(filled: Filled, path: str, params: dict[str, Any]) -> Any:
    url = f"{filled.vm.url}{path}?{urllib.parse.urlencode({**params, 'nocache': '1'}, doseq=True)}"
    with urllib.request.urlopen(url, timeout=30) as r:
        answer = json.loads(r.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def vm_range(filled: Filled, expr: str) -> list[dict[str, Any]]:
    step = INTERVAL_S
    start = filled.from_ms // 1000 // step * step  # Grafana aligns the range to the step
    end = -(-filled.to_ms // 1000 // step) * step
    data = vm_get(filled, "/api/v1/query_range", {"query": expr, "start": start, "end": end, "step": f"{step}s"})
    return [{"metric": s["metric"], "values": [(int(t), float(v)) for t, v in s["values"]]} for s in data["result"]]


def vm_instant(filled: Filled, expr: str) -> list[dict[str, Any]]:
    data = vm_get(filled, "/api/v1/query", {"query": expr, "time": filled.to_ms / 1000})
    return [{"metric": s["metric"], "value": float(s["value"][1])} for s in data["result"]]


def vm_label_values(filled: Filled, query: str) -> list[str]:
    m = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
    assert m, query
    params = {"match[]": m.group(1), "start": filled.from_ms // 1000, "end": filled.to_ms // 1000 + 1}
    return sorted(vm_get(filled, f"/api/v1/label/{m.group(2)}/values", params))


# -- what the journals say ---------------------------------------------------------------------------


def samples(filled: Filled, db: str, site: str) -> list[dict[str, Any]]:
    return rows(filled.journals[db][site], "SELECT * FROM samples ORDER BY seq")


def readings(filled: Filled, db: str, site: str) -> list[dict[str, Any]]:
    return rows(filled.journals[db][site], "SELECT * FROM readings ORDER BY seq")


def transitions(filled: Filled, db: str, site: str) -> list[dict[str, Any]]:
    return rows(filled.journals[db][site], "SELECT * FROM alarm_events WHERE event = 'transition' ORDER BY seq")


def survey_points(filled: Filled, db: str) -> list[dict[str, Any]]:
    return rows(filled.survey_journals[db], "SELECT * FROM survey_points ORDER BY seq")


def latest_points(filled: Filled, db: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p["survey"], p["point"]): p for p in survey_points(filled, db)}


def room_of(point: dict[str, Any]) -> str:
    return str(json.loads(point["payload"]).get("room") or "")


def bucket_ns(ts_ns_value: int) -> int:
    return ts_ns_value // (INTERVAL_S * 10**9) * INTERVAL_S * 10**9


def influx_buckets(rows_: list[dict[str, Any]], value: Callable[[list[dict[str, Any]]], float]) -> dict[int, float]:
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows_:
        groups[bucket_ns(ts_ns(r["ts"], r["seq"]))].append(r)
    return {b: value(g) for b, g in groups.items()}


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def vm_window(rows_: list[dict[str, Any]], t_s: int, window_s: float) -> list[dict[str, Any]]:
    """The rows a MetricsQL rollup over [window] sees at t: timestamps in (t - window, t]."""
    return [r for r in rows_ if t_s * 1000 - window_s * 1000 < ts_ms(r["ts"]) <= t_s * 1000]


def by_tags(answer: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], dict[str, Any]]:
    out = {tuple(s["tags"].get(k, "") for k in keys): s for s in answer}
    assert len(out) == len(answer), f"two series share the tags {keys}"
    return out


def by_labels(answer: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], dict[str, Any]]:
    out = {tuple(s["metric"].get(k, "") for k in keys): s for s in answer}
    assert len(out) == len(answer), f"two series share the labels {keys}"
    return out


def approx(x: float) -> Any:
    return pytest.approx(x, rel=1e-9, abs=1e-12)


# -- what each query must answer ------------------------------------------------------------------------

# The variables each dashboard's panels are checked with: the room dashboard on one
# site with all its channels, the others on every site (and survey).
CHOSEN = {"room": {"site": ["room-a"]}, "fleet": {}, "surveys": {}}
EXPECTED_VARIABLES = {
    ("room", "site"): list(SITES),
    ("room", "channel"): ["control-desk", "corridor-door"],
    ("fleet", "site"): list(SITES),
    ("surveys", "site"): [QC_SITE],
    ("surveys", "survey"): list(SURVEYS),
}

Check = Callable[["Context", Any], None]


@dataclass
class Context:
    filled: Filled
    db: str
    language: str
    variables: dict[str, list[str]]

    def samples(self, sites: list[str] | None = None) -> list[dict[str, Any]]:
        return [dict(r, site=s) for s in sites or self.variables["site"] for r in samples(self.filled, self.db, s)]

    def transitions(self, sites: list[str] | None = None) -> list[dict[str, Any]]:
        return [dict(r, site=s) for s in sites or self.variables["site"] for r in transitions(self.filled, self.db, s)]

    def steps(self) -> list[int]:
        start = self.filled.from_ms // 1000 // INTERVAL_S * INTERVAL_S
        end = -(-self.filled.to_ms // 1000 // INTERVAL_S) * INTERVAL_S
        return list(range(start, end + 1, INTERVAL_S))

    @property
    def range_s(self) -> int:
        return math.ceil((self.filled.to_ms - self.filled.from_ms) / 1000)

    @property
    def to_s(self) -> float:
        return self.filled.to_ms / 1000


def group(rows_: list[dict[str, Any]], *keys: str) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    out: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows_:
        out[tuple(str(r[k]) for k in keys)].append(r)
    return dict(out)


def check_influx_buckets(
    answer: list[dict[str, Any]], expected: dict[tuple[str, ...], list[dict[str, Any]]], keys: tuple[str, ...],
    value: Callable[[list[dict[str, Any]]], float], *, fill: str = "null",
) -> None:  # fmt: skip
    got = by_tags(answer, *keys)
    assert set(got) == set(expected)
    for key, rows_ in expected.items():
        want = influx_buckets(rows_, value)
        values = got[key]["values"]
        buckets = [t for t, _ in values]
        assert buckets == sorted(buckets) and set(want) <= set(buckets)
        for t, v in values:
            if t in want:
                assert v == approx(want[t]), (key, t)
            elif fill == "null":
                assert v is None, (key, t)
            else:
                assert v == 0, (key, t)


def check_vm_windows(
    ctx: Context, answer: list[dict[str, Any]], expected: dict[tuple[str, ...], list[dict[str, Any]]],
    keys: tuple[str, ...], window_s: float, value: Callable[[list[dict[str, Any]]], float],
) -> None:  # fmt: skip
    got = by_labels(answer, *keys)
    assert set(got) == set(expected)
    # The last few steps are left out: there VictoriaMetrics may still be taking the newest points in, or
    # carry the previous value past the end of the data, depending on when the query runs.
    last = ctx.steps()[-1] - VM_TAIL_S
    for key, rows_ in expected.items():
        want = {t: value(w) for t in ctx.steps() if t <= last and (w := vm_window(rows_, t, window_s))}
        values = {t: v for t, v in got[key]["values"] if t <= last}
        assert values == {t: approx(v) for t, v in want.items()}, key


def newest(rows_: list[dict[str, Any]]) -> dict[str, Any]:
    return max(rows_, key=lambda r: ts_ns(r["ts"], r["seq"]))


def code(row: dict[str, Any]) -> int:
    return int(ALARM_STATE_CODES[str(row["state"])])


def influx_table(answer: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], dict[str, Any]]:
    """One row per series (a 'last' table): tags -> {column: value}."""
    out = {}
    for key, series in by_tags(answer, *keys).items():
        (row,) = series["values"]
        out[key] = dict(zip(series["columns"], row, strict=True))
    return out


def vm_values(answer: list[dict[str, Any]], keys: tuple[str, ...]) -> dict[tuple[str, ...], float]:
    return {k: s["value"] for k, s in by_labels(answer, *keys).items()}


# room ------------------------------------------------------------------------------------------------


def room_e(ctx: Context, answer: Any, field: str, value: Callable[[list[float]], float]) -> None:
    expected = group(ctx.samples(), "channel")
    pick = lambda rs: value([r[field] for r in rs])  # noqa: E731
    if ctx.language == "influxql":
        check_influx_buckets(answer, expected, ("channel",), pick)
    else:
        check_vm_windows(ctx, answer, expected, ("channel",), INTERVAL_S, pick)


def last_per(ctx: Context, answer: Any, keys: tuple[str, ...], field: str, sites: list[str] | None = None) -> None:
    expected = {k: newest(rs)[field] for k, rs in group(ctx.samples(sites), *keys).items()}
    if ctx.language == "influxql":
        got = influx_table(answer, keys)
        assert {k: approx(v) for k, v in expected.items()} == {k: r["last"] for k, r in got.items()}
    else:
        assert vm_values(answer, keys) == {k: approx(v) for k, v in expected.items()}


def newest_sample(ctx: Context, answer: Any, keys: tuple[str, ...]) -> None:
    expected = {k: newest(rs) for k, rs in group(ctx.samples(), *keys).items()}
    if ctx.language == "influxql":
        got = influx_table(answer, keys)
        assert {k: (r["time"], r["seq"]) for k, r in got.items()} == {
            k: (ts_ns(r["ts"], r["seq"]), r["seq"]) for k, r in expected.items()
        }
    else:
        want = {k: approx(ctx.to_s - ts_ms(r["ts"]) / 1000) for k, r in expected.items()}
        assert vm_values(answer, keys) == want


def alarm_timeline(ctx: Context, answer: Any) -> None:
    expected = group(ctx.transitions(), "channel", "rule")
    if ctx.language == "influxql":
        got = by_tags(answer, "channel", "rule")
        assert set(got) == set(expected)
        for key, rows_ in expected.items():
            for t, v in got[key]["values"]:
                before = [r for r in rows_ if bucket_ns(ts_ns(r["ts"], r["seq"])) <= t]
                assert v == (code(before[-1]) if before else None), (key, t)
    else:
        check_vm_windows(ctx, answer, expected, ("channel", "rule"), ctx.range_s, lambda rs: code(rs[-1]))


def readings_per_meter(ctx: Context, answer: Any) -> None:
    expected = group([dict(r, site=s) for s in ctx.variables["site"] for r in readings(ctx.filled, ctx.db, s)], "meter")
    assert set(expected) == {("door",)}, "the meter that never connects has no readings"
    if ctx.language == "influxql":
        check_influx_buckets(answer, expected, ("meter",), len, fill="zero")
    else:
        check_vm_windows(ctx, answer, expected, ("meter",), INTERVAL_S, len)


def alarm_states(ctx: Context, answer: Any, keys: tuple[str, ...], equipment_only: bool) -> None:
    rows_ = [r for r in ctx.transitions() if r["kind"] == "equipment" or not equipment_only]
    expected = {k: code(rs[-1]) for k, rs in group(rows_, *keys).items()}
    assert expected, "the run raised the alarms this panel shows"
    if ctx.language == "influxql":
        assert {k: r["state"] for k, r in influx_table(answer, keys).items()} == expected
    else:
        assert vm_values(answer, keys) == expected


def annotation(ctx: Context, answer: Any) -> None:
    rows_ = ctx.transitions()
    if ctx.language == "influxql":
        (series,) = answer
        got = [dict(zip(series["columns"], v, strict=True)) for v in series["values"]]
        assert [(g["time"], g["state_code"], g["channel"], g["rule"]) for g in got] == [
            (ts_ns(r["ts"], r["seq"]), code(r), r["channel"], r["rule"]) for r in rows_
        ]
    else:
        # useValueForTime: the value is the time of the newest transition in each step's window, in ms
        check_vm_windows(
            ctx, answer, group(rows_, "channel", "rule"), ("channel", "rule"), INTERVAL_S,
            lambda rs: float(ts_ms(rs[-1]["ts"])),
        )  # fmt: skip


# fleet ------------------------------------------------------------------------------------------------


def channels_now(ctx: Context, answer: Any, field: str | None) -> None:
    keys = ("site", "channel")
    if ctx.language == "influxql":
        expected = {k: newest(rs) for k, rs in group(ctx.samples(), *keys).items()}
        got = influx_table(answer, keys)
        assert set(got) == set(expected)
        for k, r in expected.items():
            want = (r["effective_uSv_h"], r["limit_uSv_h"], r["ratio"])
            assert (got[k]["E"], got[k]["DMD_E"], got[k]["ratio"]) == tuple(approx(x) for x in want)
    else:
        assert field is not None
        last_per(ctx, answer, keys, field)


def worst_ratio(ctx: Context, answer: Any) -> None:
    expected = group(ctx.samples(), "site")
    pick = lambda rs: max(r["ratio"] for r in rs)  # noqa: E731
    if ctx.language == "influxql":
        check_influx_buckets(answer, expected, ("site",), pick)
    else:
        check_vm_windows(ctx, answer, expected, ("site",), INTERVAL_S, pick)


# surveys ------------------------------------------------------------------------------------------------


def survey_table(ctx: Context, answer: Any, field: str | None) -> None:
    points = latest_points(ctx.filled, ctx.db)
    assert {s for s, _ in points} == set(SURVEYS)
    if ctx.language == "influxql":
        keys = ("site", "survey", "room", "point", "room_category")
        got = influx_table(answer, keys)
        expected = {(QC_SITE, s, room_of(p), pt, str(p["room_category"])): p for (s, pt), p in points.items()}
        assert set(got) == set(expected)
        for k, p in expected.items():
            want = (p["effective_uSv_h"], p["limit_uSv_h"], p["ratio"], int(p["verdict"] == "fail"))
            assert (got[k]["E"], got[k]["DMD_E"], got[k]["ratio"], got[k]["failed"]) == tuple(approx(x) for x in want)
    else:
        assert field is not None
        values = {k: (int(p["verdict"] == "fail") if field == "failed" else p[field]) for k, p in points.items()}
        assert vm_values(answer, ("survey", "point")) == {k: approx(v) for k, v in values.items()}


def verdicts_by_room(ctx: Context, answer: Any, which: str | None) -> None:
    points = latest_points(ctx.filled, ctx.db).values()
    fails: dict[str, int] = defaultdict(int)
    passes: dict[str, int] = defaultdict(int)
    for p in points:
        (fails if p["verdict"] == "fail" else passes)[room_of(p)] += 1
    assert fails and passes, "the worked example has points that pass and points that fail"
    rooms = set(fails) | set(passes)
    if ctx.language == "influxql":
        got = influx_table(answer, ("room",))
        assert {k[0]: (r["pass"], r["fail"]) for k, r in got.items()} == {
            room: (passes[room], fails[room]) for room in rooms
        }
    elif which == "pass":
        assert vm_values(answer, ("room",)) == {(room,): n for room, n in passes.items() if n}
    else:
        assert vm_values(answer, ("room",)) == {(room,): fails[room] for room in rooms}


# Every query of every dashboard: (dashboard, panel title or annotation, refId) -> its check.
CHECKS: dict[tuple[str, str, str], Check] = {
    ("room", "E and DMD_E per channel", "A"): lambda c, a: room_e(c, a, "effective_uSv_h", mean),
    ("room", "E and DMD_E per channel", "B"): lambda c, a: room_e(c, a, "limit_uSv_h", max),
    ("room", "E now", "A"): lambda c, a: last_per(c, a, ("channel",), "effective_uSv_h"),
    ("room", "E / DMD_E now", "A"): lambda c, a: last_per(c, a, ("channel",), "ratio"),
    ("room", "Newest sample", "A"): lambda c, a: newest_sample(c, a, ("channel",)),
    ("room", "Alarm state per rule", "A"): alarm_timeline,
    ("room", "Meter readings per interval", "A"): readings_per_meter,
    ("room", "Equipment and sinks now", "A"): lambda c, a: alarm_states(c, a, ("channel", "rule"), True),
    ("room", "annotation: Alarm transitions", ""): annotation,
    ("fleet", "Channels now", "A"): lambda c, a: channels_now(c, a, "effective_uSv_h"),
    ("fleet", "Channels now", "B"): lambda c, a: channels_now(c, a, "limit_uSv_h"),
    ("fleet", "Channels now", "C"): lambda c, a: channels_now(c, a, "ratio"),
    ("fleet", "Alarm states now", "A"): lambda c, a: alarm_states(c, a, ("site", "channel", "rule"), False),
    ("fleet", "Worst E / DMD_E per site", "A"): worst_ratio,
    ("fleet", "Newest data per site", "A"): lambda c, a: newest_sample(c, a, ("site",)),
    ("surveys", "Survey points", "A"): lambda c, a: survey_table(c, a, "effective_uSv_h"),
    ("surveys", "Survey points", "B"): lambda c, a: survey_table(c, a, "limit_uSv_h"),
    ("surveys", "Survey points", "C"): lambda c, a: survey_table(c, a, "ratio"),
    ("surveys", "Survey points", "D"): lambda c, a: survey_table(c, a, "failed"),
    ("surveys", "Points by room and verdict", "A"): lambda c, a: verdicts_by_room(c, a, "pass"),
    ("surveys", "Points by room and verdict", "B"): lambda c, a: verdicts_by_room(c, a, "fail"),
}


@dataclass(frozen=True)
class DashboardQuery:
    slug: str
    where: str  # panel title, or "annotation: name"
    ref: str
    target: dict[str, Any]


def queries(language: str, slug: str) -> list[DashboardQuery]:
    board = dashboard(language, slug)
    out = [
        DashboardQuery(slug, panel["title"], target["refId"], target)
        for panel in board["panels"]
        for target in panel["targets"]
    ]
    out += [
        DashboardQuery(slug, f"annotation: {a['name']}", "", a)
        for a in board["annotations"]["list"]
        if not a.get("builtIn")
    ]
    return out


def resolve_variables(filled: Filled, db: str, language: str, slug: str) -> dict[str, list[str]]:
    """Run the dashboard's variable queries in order, as Grafana does; check each against the journals."""
    values: dict[str, list[str]] = {}
    for variable in dashboard(language, slug)["templating"]["list"]:
        if variable["type"] == "datasource":
            assert variable["query"] == ("influxdb" if language == "influxql" else "prometheus")
            continue
        query = substitute(variable["query"], values, filled)
        if language == "influxql":
            found = sorted({v[1] for s in influxql(filled, query) for v in s["values"]})
        else:
            found = vm_label_values(filled, query)
        assert found == EXPECTED_VARIABLES[(slug, variable["name"])], (slug, variable["name"], db)
        values[variable["name"]] = CHOSEN[slug].get(variable["name"], found)
    return values


DATABASES = {"influxql": "influxdb1", "metricsql": "victoria"}


@pytest.mark.parametrize("language", sorted(DATABASES))
@pytest.mark.parametrize("slug", ["room", "fleet", "surveys"])
def test_every_query_of_the_dashboard_answers_what_the_journals_hold(filled: Filled, language: str, slug: str) -> None:
    db = DATABASES[language]
    variables = resolve_variables(filled, db, language, slug)
    ctx = Context(filled, db, language, variables)
    found = queries(language, slug)
    keys = {(q.slug, q.where, q.ref) for q in found}
    assert keys <= set(CHECKS), f"queries without a check: {keys - set(CHECKS)}"
    assert {k[1] for k in keys} == {k[1] for k in CHECKS if k[0] == slug}, "a check whose panel is gone"
    if language == "metricsql":
        assert keys == {k for k in CHECKS if k[0] == slug}
    for q in found:
        if language == "influxql":
            answer = influxql(filled, substitute(q.target["query"], variables, filled))
        else:
            expr = substitute(q.target["expr"], variables, filled)
            answer = vm_instant(filled, expr) if q.target.get("instant") else vm_range(filled, expr)
        assert answer, f"{slug} / {q.where} / {q.ref}: no data"
        CHECKS[(q.slug, q.where, q.ref)](ctx, answer)
