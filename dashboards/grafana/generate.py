"""Writes radsurvey's Grafana dashboards (room, fleet, surveys) for InfluxDB 1.x and VictoriaMetrics.

Run it after changing a panel: ``python dashboards/grafana/generate.py``. The
JSON files beside it are what users import or provision; this script keeps the
two query languages' variants of each dashboard panel for panel alike, and
tests/integration/test_dashboards.py runs every query the JSON files hold
against real servers (so edit here, never the JSON by hand).

Classic dashboard JSON model (``schemaVersion`` 39); every panel takes its data
source from the dashboard's ``datasource`` variable, so the same file works
imported by hand or provisioned next to any data source of the right type.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCHEMA_VERSION = 39

LANGUAGES = {"influxql": "influxdb", "metricsql": "prometheus"}  # folder -> Grafana data source type

UNIT_USV_H = "suffix: µSv/h"
STATE_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "normal", "color": "green", "index": 0},
            "1": {"text": "warning", "color": "yellow", "index": 1},
            "2": {"text": "alarm", "color": "red", "index": 2},
            "3": {"text": "fault", "color": "purple", "index": 3},
        },
    }
]
VERDICT_MAPPING = [
    {
        "type": "value",
        "options": {
            "0": {"text": "pass", "color": "green", "index": 0},
            "1": {"text": "fail", "color": "red", "index": 1},
        },
    }
]
RATIO_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 0.8}, {"color": "red", "value": 1}],
}
AGE_THRESHOLDS = {
    "mode": "absolute",
    "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 60}, {"color": "red", "value": 300}],
}


@dataclass(frozen=True)
class Query:
    """One target of a panel in both languages.

    ``legend`` is written once with ``{label}`` placeholders: InfluxQL aliases
    become ``$tag_label``, MetricsQL legends ``{{label}}``. ``instant``: the
    MetricsQL target is an instant query (a table or "now" value).
    """

    influxql: str
    metricsql: str
    legend: str = ""
    instant: bool = False
    table: bool = False  # InfluxQL result format "table" (and the MetricsQL format "table")


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # Grafana panel type
    queries: tuple[Query, ...]
    description: str
    w: int = 12
    h: int = 8
    unit: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    overrides: tuple[dict[str, Any], ...] = ()
    transformations: tuple[dict[str, Any], ...] = ()
    metricsql_unit: str | None = None  # when the MetricsQL variant answers in another unit


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    influxql: str
    metricsql: str
    multi: bool = True


@dataclass(frozen=True)
class Annotation:
    name: str
    color: str
    influxql: str
    metricsql: str
    influx_text: str
    influx_tags: str
    metricsql_title: str
    metricsql_tags: str


@dataclass(frozen=True)
class Dashboard:
    slug: str
    title: str
    description: str
    time_from: str
    variables: tuple[Variable, ...]
    panels: tuple[Panel, ...]
    annotations: tuple[Annotation, ...] = ()


# -- the three dashboards --------------------------------------------------------------------------

# Sites that run monitors: from the samples and alarms they wrote (a site whose only
# meter never connected has alarms but no samples).
MONITOR_SITE = Variable(
    "site",
    "Site",
    'SHOW TAG VALUES FROM "sample", "alarm" WITH KEY = "site"',
    'label_values({__name__=~"sample_seq|alarm_state_code"}, site)',
)

ROOM_WHERE = '"site" =~ /^$site$/ AND "channel" =~ /^$channel$/'
ROOM_SEL = 'site=~"$site",channel=~"$channel"'

ROOM = Dashboard(
    slug="room",
    title="radsurvey: one room",
    description="One site (X-ray room): E per channel against DMD_E, alarms, meters and sinks.",
    time_from="now-6h",
    variables=(
        replace(MONITOR_SITE, multi=False),
        Variable(
            "channel",
            "Channel",
            'SHOW TAG VALUES FROM "sample", "alarm" WITH KEY = "channel" WHERE "site" =~ /^$site$/',
            'label_values({__name__=~"sample_seq|alarm_state_code",site=~"$site"}, channel)',
        ),
    ),
    panels=(
        Panel(
            "E and DMD_E per channel",
            "timeseries",
            (
                Query(
                    f'SELECT mean("effective_uSv_h") FROM "sample" WHERE {ROOM_WHERE} AND $timeFilter '
                    'GROUP BY time($__interval), "channel" fill(null)',
                    f"avg_over_time(sample_effective_uSv_h{{{ROOM_SEL}}}[$__interval])",
                    "E {channel}",
                ),
                Query(
                    f'SELECT max("limit_uSv_h") FROM "sample" WHERE {ROOM_WHERE} AND $timeFilter '
                    'GROUP BY time($__interval), "channel" fill(null)',
                    f"max_over_time(sample_limit_uSv_h{{{ROOM_SEL}}}[$__interval])",
                    "DMD_E {channel}",
                ),
            ),
            "Mean effective dose rate E per interval, and the room category's permissible dose rate DMD_E "
            "(dashed) it is judged against.",
            w=24,
            h=9,
            unit=UNIT_USV_H,
            options={"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
            overrides=(
                {
                    "matcher": {"id": "byRegexp", "options": "^DMD_E.*"},
                    "properties": [
                        {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                        {"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}},
                    ],
                },
            ),
        ),
        Panel(
            "E now",
            "stat",
            (
                Query(
                    f'SELECT last("effective_uSv_h") FROM "sample" WHERE {ROOM_WHERE} AND $timeFilter '
                    'GROUP BY "channel"',
                    f"last_over_time(sample_effective_uSv_h{{{ROOM_SEL}}}[$__range])",
                    "{channel}",
                    instant=True,
                ),
            ),
            "The newest sample's E per channel.",
            w=8,
            h=5,
            unit=UNIT_USV_H,
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        ),
        Panel(
            "E / DMD_E now",
            "gauge",
            (
                Query(
                    f'SELECT last("ratio") FROM "sample" WHERE {ROOM_WHERE} AND $timeFilter GROUP BY "channel"',
                    f"last_over_time(sample_ratio{{{ROOM_SEL}}}[$__range])",
                    "{channel}",
                    instant=True,
                ),
            ),
            "The newest sample's E / DMD_E per channel: 1 or more is at or over the limit.",
            w=8,
            h=5,
            defaults={"min": 0, "max": 1.5, "thresholds": RATIO_THRESHOLDS},
            options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}},
        ),
        Panel(
            "Newest sample",
            "table",
            (
                Query(
                    f'SELECT last("seq") AS "seq" FROM "sample" WHERE {ROOM_WHERE} AND $timeFilter GROUP BY "channel"',
                    f"time() - tlast_over_time(sample_seq{{{ROOM_SEL}}}[$__range])",
                    "{channel}",
                    instant=True,
                    table=True,
                ),
            ),
            "How old each channel's newest sample in the database is: a meter gone quiet, a site offline "
            "or a sink still replaying its backlog.",
            w=8,
            h=5,
            unit="dateTimeFromNow",
            metricsql_unit="s",
            defaults={"thresholds": AGE_THRESHOLDS},
        ),
        Panel(
            "Alarm state per rule",
            "state-timeline",
            (
                Query(
                    f'SELECT last("state_code") FROM "alarm" WHERE {ROOM_WHERE} AND $timeFilter '
                    'GROUP BY time($__interval), "channel", "rule" fill(previous)',
                    f"last_over_time(alarm_state_code{{{ROOM_SEL}}}[$__range])",
                    "{channel} {rule}",
                ),
            ),
            "Each alarm rule's state (normal, warning, alarm, fault) from its transitions.",
            w=24,
            h=7,
            defaults={"mappings": STATE_MAPPING},
            options={"mergeValues": True, "showValue": "auto", "rowHeight": 0.9},
        ),
        Panel(
            "Meter readings per interval",
            "timeseries",
            (
                Query(
                    'SELECT count("seq") FROM "reading" WHERE "site" =~ /^$site$/ AND $timeFilter '
                    'GROUP BY time($__interval), "meter" fill(0)',
                    'count_over_time(reading_seq{site=~"$site"}[$__interval])',
                    "{meter}",
                ),
            ),
            "Readings each meter delivered per interval: a gap is a meter that did not answer.",
            w=12,
            h=7,
            defaults={"custom": {"drawStyle": "bars", "fillOpacity": 60}},
        ),
        Panel(
            "Equipment and sinks now",
            "table",
            (
                Query(
                    f'SELECT last("state_code") AS "state" FROM "alarm" WHERE {ROOM_WHERE} AND "kind" = \'equipment\' '
                    'GROUP BY "channel", "rule"',
                    f'last_over_time(alarm_state_code{{{ROOM_SEL},kind="equipment"}}[1y])',
                    "{channel} {rule}",
                    instant=True,
                    table=True,
                ),
            ),
            "The equipment rules' latest state: meter disconnected or stale, clock, journal size and "
            "writes, sink backlog and failing sinks (docs/alarms.md).",
            w=12,
            h=7,
            defaults={"mappings": STATE_MAPPING},
        ),
    ),
    annotations=(
        Annotation(
            "Alarm transitions",
            "red",
            f'SELECT "state_code", "rule", "channel" FROM "alarm" WHERE {ROOM_WHERE} AND $timeFilter',
            f"tlast_over_time(alarm_state_code{{{ROOM_SEL}}}[$__interval]) * 1000",
            influx_text="state_code",
            influx_tags="channel,rule",
            metricsql_title="{{channel}} {{rule}}",
            metricsql_tags="channel,rule,kind",
        ),
    ),
)

FLEET = Dashboard(
    slug="fleet",
    title="radsurvey: fleet",
    description="Every site: current E and DMD_E, alarm states, monitors offline or replaying a backlog.",
    time_from="now-24h",
    variables=(MONITOR_SITE,),
    panels=(
        Panel(
            "Channels now",
            "table",
            (
                Query(
                    'SELECT last("effective_uSv_h") AS "E", last("limit_uSv_h") AS "DMD_E", last("ratio") AS "ratio" '
                    'FROM "sample" WHERE "site" =~ /^$site$/ AND $timeFilter GROUP BY "site", "channel"',
                    'last_over_time(sample_effective_uSv_h{site=~"$site"}[$__range])',
                    "{site} {channel}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    'last_over_time(sample_limit_uSv_h{site=~"$site"}[$__range])',
                    "{site} {channel}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    'last_over_time(sample_ratio{site=~"$site"}[$__range])',
                    "{site} {channel}",
                    instant=True,
                    table=True,
                ),
            ),
            "Every site's channels: the newest E, its DMD_E and E / DMD_E (MetricsQL: values A, B, C).",
            w=12,
            h=10,
            transformations=({"id": "merge", "options": {}},),
        ),
        Panel(
            "Alarm states now",
            "table",
            (
                Query(
                    'SELECT last("state_code") AS "state" FROM "alarm" WHERE "site" =~ /^$site$/ '
                    'GROUP BY "site", "channel", "rule"',
                    'last_over_time(alarm_state_code{site=~"$site"}[1y])',
                    "{site} {channel} {rule}",
                    instant=True,
                    table=True,
                ),
            ),
            "Every rule's latest transition, however long ago (MetricsQL: within a year).",
            w=12,
            h=10,
            defaults={"mappings": STATE_MAPPING},
        ),
        Panel(
            "Worst E / DMD_E per site",
            "timeseries",
            (
                Query(
                    'SELECT max("ratio") FROM "sample" WHERE "site" =~ /^$site$/ AND $timeFilter '
                    'GROUP BY time($__interval), "site" fill(null)',
                    'max by (site) (max_over_time(sample_ratio{site=~"$site"}[$__interval]))',
                    "{site}",
                ),
            ),
            "The highest E / DMD_E of any channel of each site per interval.",
            w=12,
            h=9,
            defaults={"thresholds": RATIO_THRESHOLDS, "custom": {"thresholdsStyle": {"mode": "line"}}},
        ),
        Panel(
            "Newest data per site",
            "table",
            (
                Query(
                    'SELECT last("seq") AS "seq" FROM "sample" WHERE "site" =~ /^$site$/ AND $timeFilter '
                    'GROUP BY "site"',
                    'time() - max by (site) (tlast_over_time(sample_seq{site=~"$site"}[$__range]))',
                    "{site}",
                    instant=True,
                    table=True,
                ),
            ),
            "How old each site's newest sample is: a monitor offline (its journal holds the data) or a "
            "sink replaying a backlog after an outage. A site silent for longer than the time range is not listed.",
            w=12,
            h=9,
            unit="dateTimeFromNow",
            metricsql_unit="s",
            defaults={"thresholds": AGE_THRESHOLDS},
        ),
    ),
)

SURVEY_WHERE = '"site" =~ /^$site$/ AND "survey" =~ /^$survey$/'
SURVEY_SEL = 'site=~"$site",survey=~"$survey"'

SURVEYS = Dashboard(
    slug="surveys",
    title="radsurvey: surveys",
    description="Evaluated survey points by site, survey, room and verdict.",
    time_from="now-1y",
    variables=(
        Variable(
            "site",
            "Site",
            'SHOW TAG VALUES FROM "survey_point" WITH KEY = "site"',
            "label_values(survey_point_effective_uSv_h, site)",
        ),
        Variable(
            "survey",
            "Survey",
            'SHOW TAG VALUES FROM "survey_point" WITH KEY = "survey" WHERE "site" =~ /^$site$/',
            'label_values(survey_point_effective_uSv_h{site=~"$site"}, survey)',
        ),
    ),
    panels=(
        Panel(
            "Survey points",
            "table",
            (
                Query(
                    'SELECT last("effective_uSv_h") AS "E", last("limit_uSv_h") AS "DMD_E", last("ratio") AS "ratio", '
                    f'last("failed") AS "failed" FROM "survey_point" WHERE {SURVEY_WHERE} AND $timeFilter '
                    'GROUP BY "site", "survey", "room", "point", "room_category"',
                    f"last_over_time(survey_point_effective_uSv_h{{{SURVEY_SEL}}}[$__range])",
                    "{survey} {point}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    f"last_over_time(survey_point_limit_uSv_h{{{SURVEY_SEL}}}[$__range])",
                    "{survey} {point}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    f"last_over_time(survey_point_ratio{{{SURVEY_SEL}}}[$__range])",
                    "{survey} {point}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    f"last_over_time(survey_point_failed{{{SURVEY_SEL}}}[$__range])",
                    "{survey} {point}",
                    instant=True,
                    table=True,
                ),
            ),
            "Each point's latest evaluation: E, DMD_E, E / DMD_E and the verdict (failed 1 = fail). "
            "MetricsQL: values A to D.",
            w=24,
            h=10,
            overrides=(
                {
                    "matcher": {"id": "byRegexp", "options": "^(failed|Value #D)$"},
                    "properties": [{"id": "mappings", "value": VERDICT_MAPPING}],
                },
            ),
            transformations=({"id": "merge", "options": {}},),
        ),
        Panel(
            "Points by room and verdict",
            "table",
            (
                Query(
                    'SELECT count("f") - sum("f") AS "pass", sum("f") AS "fail" FROM '
                    f'(SELECT last("failed") AS "f" FROM "survey_point" WHERE {SURVEY_WHERE} AND $timeFilter '
                    'GROUP BY "site", "survey", "room", "point") GROUP BY "room"',
                    f"count by (room) (last_over_time(survey_point_failed{{{SURVEY_SEL}}}[$__range]) == 0)",
                    "{room}",
                    instant=True,
                    table=True,
                ),
                Query(
                    "",
                    f"sum by (room) (last_over_time(survey_point_failed{{{SURVEY_SEL}}}[$__range]))",
                    "{room}",
                    instant=True,
                    table=True,
                ),
            ),
            "How many points pass and fail per room, each point counted once at its latest evaluation "
            "(MetricsQL: A pass, B fail).",
            w=24,
            h=8,
            transformations=({"id": "merge", "options": {}},),
        ),
    ),
)

DASHBOARDS = (ROOM, FLEET, SURVEYS)


# -- rendering -------------------------------------------------------------------------------------


def _legend(legend: str, language: str) -> str:
    import re

    if language == "influxql":
        return re.sub(r"\{(\w+)\}", r"$tag_\1", legend)
    return re.sub(r"\{(\w+)\}", r"{{\1}}", legend)


def _datasource(language: str) -> dict[str, str]:
    return {"type": LANGUAGES[language], "uid": "${datasource}"}


def _targets(panel: Panel, language: str) -> list[dict[str, Any]]:
    out = []
    for index, query in enumerate(panel.queries):
        ref = "ABCDEFGH"[index]
        if language == "influxql":
            if not query.influxql:
                continue  # one InfluxQL statement answers what MetricsQL needs several queries for
            target: dict[str, Any] = {
                "refId": ref,
                "datasource": _datasource(language),
                "query": query.influxql,
                "rawQuery": True,
                "resultFormat": "table" if query.table else "time_series",
            }
            if query.legend and not query.table:
                target["alias"] = _legend(query.legend, language)
        else:
            target = {
                "refId": ref,
                "datasource": _datasource(language),
                "expr": query.metricsql,
                "legendFormat": _legend(query.legend, language),
                "instant": query.instant,
                "range": not query.instant,
            }
            if query.table:
                target["format"] = "table"
        out.append(target)
    return out


def _panel(panel: Panel, language: str, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {**panel.defaults}
    unit = panel.metricsql_unit if language == "metricsql" and panel.metricsql_unit else panel.unit
    overrides = list(panel.overrides)
    if unit == "dateTimeFromNow":  # the row's time is the newest point's: show its age
        overrides.append(
            {"matcher": {"id": "byName", "options": "Time"}, "properties": [{"id": "unit", "value": unit}]}
        )
    elif unit:
        defaults["unit"] = unit
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": _datasource(language),
        "gridPos": {"h": panel.h, "w": panel.w, "x": x, "y": y},
        "targets": _targets(panel, language),
        "fieldConfig": {"defaults": defaults, "overrides": overrides},
        "options": panel.options,
        "transformations": list(panel.transformations),
    }


def _variable(variable: Variable, language: str) -> dict[str, Any]:
    query = variable.influxql if language == "influxql" else variable.metricsql
    return {
        "type": "query",
        "name": variable.name,
        "label": variable.label,
        "datasource": _datasource(language),
        "query": query,
        "definition": query,
        "refresh": 2,  # on time range change: a new site appears without reloading
        "multi": variable.multi,
        "includeAll": variable.multi,
        "sort": 1,
        "current": {},
        "options": [],
        "hide": 0,
    }


def _annotation(annotation: Annotation, language: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": annotation.name,
        "datasource": _datasource(language),
        "enable": True,
        "hide": False,
        "iconColor": annotation.color,
    }
    if language == "influxql":
        out.update(query=annotation.influxql, textColumn=annotation.influx_text, tagsColumn=annotation.influx_tags)
    else:
        out.update(
            expr=annotation.metricsql,
            titleFormat=annotation.metricsql_title,
            tagKeys=annotation.metricsql_tags,
            useValueForTime=True,  # the value is the transition's own time in ms
        )
    return out


def render(dashboard: Dashboard, language: str) -> dict[str, Any]:
    """The dashboard's JSON model for one query language."""
    panels = []
    x = y = row_h = 0
    for panel_id, panel in enumerate(dashboard.panels, start=1):
        if x + panel.w > 24:
            x, y, row_h = 0, y + row_h, 0
        panels.append(_panel(panel, language, panel_id, x, y))
        x, row_h = x + panel.w, max(row_h, panel.h)
    source = "InfluxDB 1.x (InfluxQL)" if language == "influxql" else "VictoriaMetrics (MetricsQL)"
    datasource_variable = {
        "type": "datasource",
        "name": "datasource",
        "label": "Data source",
        "query": LANGUAGES[language],
        "current": {},
        "options": [],
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }
    return {
        "id": None,
        "uid": f"radsurvey-{dashboard.slug}-{language}",
        "title": f"{dashboard.title} ({'InfluxQL' if language == 'influxql' else 'MetricsQL'})",
        "description": f"{dashboard.description} Data: radsurvey's InfluxDB sink on {source}.",
        "tags": ["radsurvey", language],
        "editable": True,
        "graphTooltip": 1,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": dashboard.time_from, "to": "now"},
        "timepicker": {},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                },
                *(_annotation(a, language) for a in dashboard.annotations),
            ]
        },
        "templating": {"list": [datasource_variable, *(_variable(v, language) for v in dashboard.variables)]},
        "panels": panels,
    }


def files() -> dict[Path, str]:
    """Every dashboard file this script writes, with its text."""
    out = {}
    for language in LANGUAGES:
        for dashboard in DASHBOARDS:
            text = json.dumps(render(dashboard, language), indent=2, ensure_ascii=False) + "\n"
            out[HERE / language / f"{dashboard.slug}.json"] = text
    return out


def main() -> int:
    for path, text in files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(path.relative_to(HERE))
    return 0


if __name__ == "__main__":
    sys.exit(main())
