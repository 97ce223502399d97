"""Journal rows -> MQTT topics/JSON payloads and InfluxDB line protocol (pure functions).

Both mappings are keyed by journal table, so publishing a new kind of row
(``alarm_events`` from the alarm engine, ``survey_points`` from surveys) is
one entry here; rows of a table that does not exist yet are simply never read.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

from ..alarms.basis import basis
from ..journal.points import R_KEY, R_NS, R_SEQ, R_VALUE, S_E, S_KEY, S_MEAN, S_NET, S_NRM, S_NS, S_RATIO, S_VALUE

# -- MQTT ---------------------------------------------------------------------------------


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def generic_payload(row: dict[str, Any]) -> dict[str, Any]:
    """Every column; JSON text columns decoded, blobs as hex."""
    return {k: _decode(v) for k, v in row.items()}


def reading_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "ts": row["ts"],
        "meter": row["meter"],
        "value": row["value"],
        "unit": row["unit"],
        "quantity": row["quantity"],
        "status": json.loads(row["status"]),
        "meter_value": row["meter_value"],
        "conversions": json.loads(row["conversions"]),
    }


def sample_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "ts": row["ts"],
        "channel": row["channel"],
        "meter": row["meter"],
        "reading_seq": row["reading_seq"],
        "room_category": row["room_category"],
        "value_uGy_h": row["value_uGy_h"],
        "mean_uGy_h": row["mean_uGy_h"],
        "window_n": row["window_n"],
        "background_uGy_h": row["background_uGy_h"],
        "net_uGy_h": row["net_uGy_h"],
        "below_background": bool(row["below_background"]),
        "normalised_uGy_h": row["normalised_uGy_h"],
        "effective_uSv_h": row["effective_uSv_h"],
        "limit_uSv_h": row["limit_uSv_h"],
        "ratio": row["ratio"],
        "formula": row["formula"],
        "corrections": json.loads(row["corrections"]),
    }


@dataclass(frozen=True)
class MqttRoute:
    """Where rows of one table go: topic under the site root, retain flag, QoS, payload builder."""

    topic: str  # formatted with the row's columns, e.g. "channels/{channel}/sample"
    retain: bool
    qos: int
    payload: Callable[[dict[str, Any]], dict[str, Any]]


# Worst first when a channel's rules disagree: a dose-rate alarm outranks an
# equipment fault (the alarm is a measured fact), and both outrank a warning.
ALARM_SEVERITY = {"normal": 0, "warning": 1, "fault": 2, "alarm": 3}


def channel_alarm_payload(channel: str, rules: dict[str, dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """The channel's worst current alarm state across its rules, for ``channels/{channel}/alarm``.

    ``rules`` maps each rule to its latest ``alarm_events`` row; ``row`` is the
    event that changed it (its seq and ts label the payload).
    """
    states = {name: str(r["state"]) for name, r in sorted(rules.items())}
    worst = max(states.values(), key=lambda s: ALARM_SEVERITY.get(s, 0), default="normal")
    out: dict[str, Any] = {"seq": row["seq"], "ts": row["ts"], "channel": channel, "state": worst}
    if worst == "normal":
        out.update(
            rule=None,
            rules=[],
            kind=None,
            value=None,
            level=None,
            warning_level=None,
            unit=None,
            since=max((r["since"] for r in rules.values() if r["since"]), default=None),
            acknowledged=False,
            latched=False,
        )
    else:
        active = [r for r in rules.values() if r["state"] == worst]
        # The one to show: unacknowledged before acknowledged, then the longest-standing.
        lead = min(active, key=lambda r: (bool(r["acknowledged"]), r["since"] or "", r["rule"]))
        out.update(
            rule=lead["rule"],
            rules=sorted(r["rule"] for r in active),
            kind=lead["kind"],
            value=lead["value"],
            level=lead["level"],
            warning_level=lead["warning_level"],
            unit=lead["unit"],
            since=min((r["since"] for r in active if r["since"]), default=None),
            acknowledged=all(bool(r["acknowledged"]) for r in active),
            latched=any(bool(r["latched"]) for r in active),
        )
    out["basis"] = basis(out["kind"])
    out["states"] = states
    return out


def alarm_payload(row: dict[str, Any]) -> dict[str, Any]:
    """One rule's ``alarm_events`` row, with what the rule compares (its ``basis``)."""
    return {**generic_payload(row), "basis": basis(row.get("kind"))}


# meter_events are turned into meters/{meter}/state by the MQTT sink itself (it keeps
# model/serial/last_seen per meter), so their route's payload is only the fallback.
# alarm_events go to their rule's topic; the sink adds the channel's worst state on
# channels/{channel}/alarm (channel_alarm_payload).
MQTT_ROUTES: dict[str, MqttRoute] = {
    "readings": MqttRoute("meters/{meter}/reading", retain=False, qos=1, payload=reading_payload),
    "samples": MqttRoute("channels/{channel}/sample", retain=False, qos=1, payload=sample_payload),
    "meter_events": MqttRoute("meters/{meter}/state", retain=True, qos=1, payload=generic_payload),
    "alarm_events": MqttRoute("channels/{channel}/alarms/{rule}", retain=True, qos=1, payload=alarm_payload),
    "survey_points": MqttRoute("surveys/{survey}/points/{point}", retain=True, qos=1, payload=generic_payload),
}


# -- Home Assistant discovery ----------------------------------------------------------------------

# What the sensor's attributes show: facts of the channel that change only with its
# config. Home Assistant's recorder stores a new attributes row whenever one changes,
# so nothing that changes with every sample (seq, ts, values) belongs here.
HA_ATTRIBUTE_KEYS = ("channel", "meter", "room_category", "limit_uSv_h", "formula")


def _ha_plain(text: str) -> str:
    return text.replace(".", "_").replace("-", "_")


def ha_object_ids(site: str, channels: list[str]) -> dict[str, str]:
    """channel id -> the id its Home Assistant sensor is built from (``{site}_{channel}``, one per channel).

    Home Assistant ids allow letters, digits and ``_`` only, so ``.`` and ``-``
    become ``_`` as before (existing sensors keep their ids). Channels that
    would then share an id (``door-1``, ``door_1``, ``Door.1``) stay apart:
    the one already in that form keeps it, each other one gets the first 8 hex
    digits of the SHA-256 of its own id appended, a function of that id alone.
    """
    import hashlib

    groups: dict[str, list[str]] = {}
    for channel in channels:
        groups.setdefault(_ha_plain(f"{site}_{channel}").lower(), []).append(channel)
    out: dict[str, str] = {}
    for members in groups.values():
        for channel in members:
            base = _ha_plain(f"{site}_{channel}")
            if len(members) > 1 and channel != _ha_plain(channel).lower():
                base = f"{base}_{hashlib.sha256(channel.encode()).hexdigest()[:8]}"
            out[channel] = base
    return out


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


Message = tuple[str, bytes, int, bool]  # (topic, payload, qos, retain)

_INF = float("inf")

# The values of a compact row in the order its payload has them, as journal/points.py selects them after
# (seq, context id): (key, how the template shows it); ``below_background`` arrives as its JSON text.
_READING_VALUES = (("seq", "%r"), ("ts", '"%s"'), ("value", "%r"), ("meter_value", "%r"))
_SAMPLE_VALUES = (
    ("seq", "%r"),
    ("ts", '"%s"'),
    ("reading_seq", "%r"),
    ("value_uGy_h", "%r"),
    ("mean_uGy_h", "%r"),
    ("window_n", "%r"),
    ("net_uGy_h", "%r"),
    ("below_background", "%s"),
    ("normalised_uGy_h", "%r"),
    ("effective_uSv_h", "%r"),
    ("ratio", "%r"),
)


def json_template(
    builder: Callable[[dict[str, Any]], dict[str, Any]], row: dict[str, Any], values: list[tuple[str, str]]
) -> str:
    """A ``%`` template of ``dumps(builder(row))`` with a placeholder for each of ``values``, in order; "" if none.

    ``row`` holds the context's real columns; each key of ``values`` is set to
    a marker the builder passes through unchanged (``below_background``, which
    it turns into a bool, is found as ``true``). A template is only made when
    every placeholder occurs exactly once and in the order of ``values``, so a
    context text that happens to look like a marker gets no template, never a
    wrong one.
    """
    marked = {**row, **{key: f"@@radsurvey-value:{key}@@" for key, _ in values}, "below_background": 1}
    text = dumps(builder(marked)).decode().replace("%", "%%")
    spots = []
    for key, spec in values:
        found = f'"{key}":true' if key == "below_background" else f'"{marked[key]}"'
        if text.count(found) != 1:
            return ""
        spots.append((text.index(found), found, f'"{key}":{spec}' if key == "below_background" else spec))
    if [found for _, found, _ in sorted(spots)] != [found for _, found, _ in spots]:
        return ""
    for _, found, placeholder in spots:
        text = text.replace(found, placeholder)
    return text


class CompactMessages:
    """The MQTT messages of the compact rows of ``journal/points.py``: a JSON template per context, values filled in.

    A context's topic and the keys that do not change with it (meter, unit,
    channel, formula, corrections, ...) are rendered once, by
    :func:`reading_payload` / :func:`sample_payload` themselves; a row is then
    one ``%`` format of its tuple. ``%r`` of an int or a finite float is what
    :func:`dumps` writes for it; a row with a value that JSON writes otherwise
    (None, an infinity; SQLite keeps no NaN) is built key by key from the
    views' columns, as the views' path builds it. Tests compare both paths.
    """

    def __init__(self, root: str):
        self.root = root
        # context id -> (topic, template, whether it shows meter_value); sample templates by (id, has normalised)
        self._readings: dict[int, tuple[str, str, bool]] = {}
        self._samples: dict[tuple[int, bool], tuple[str, str]] = {}
        self._reading_route = MQTT_ROUTES["readings"]
        self._sample_route = MQTT_ROUTES["samples"]

    def reading(self, row: tuple[Any, ...], context: dict[str, Any]) -> Message:
        """``row`` as ``points.READING_MESSAGES_SQL`` selects it; ``context``: its ``reading_message_contexts``."""
        known = self._readings.get(row[1])
        if known is None:
            known = self._readings[row[1]] = self._reading_template(context)
        topic, template, with_meter_value = known
        route = self._reading_route
        values = row[2:] if with_meter_value else row[2:5]
        if template and None not in values and _INF not in values and -_INF not in values:
            return topic, (template % values).encode(), route.qos, route.retain
        view = {
            **context,
            "seq": row[0],
            "ts": row[3],
            "value": row[4],
            "meter_value": row[5] if with_meter_value else None,
        }
        return topic, dumps(route.payload(view)), route.qos, route.retain

    def sample(self, row: tuple[Any, ...], context: dict[str, Any]) -> Message:
        """``row`` as ``points.SAMPLE_MESSAGES_SQL`` selects it; ``context``: its ``sample_message_contexts``."""
        with_nrm = row[10] is not None
        known = self._samples.get((row[1], with_nrm))
        if known is None:
            known = self._samples[(row[1], with_nrm)] = self._sample_template(context, with_nrm)
        topic, template = known
        route = self._sample_route
        values = row[2:] if with_nrm else row[2:10] + row[11:]
        if template and None not in values and _INF not in values and -_INF not in values:
            return topic, (template % values).encode(), route.qos, route.retain
        view = {**context, **dict(zip((k for k, _ in _SAMPLE_VALUES), row[2:], strict=True))}
        view["below_background"] = row[9] == "true"
        return topic, dumps(route.payload(view)), route.qos, route.retain

    def _reading_template(self, context: dict[str, Any]) -> tuple[str, str, bool]:
        topic = f"{self.root}/" + self._reading_route.topic.format(**context)
        with_meter_value = bool(context["has_meter_value"])
        values = list(_READING_VALUES if with_meter_value else _READING_VALUES[:3])
        template = json_template(self._reading_route.payload, {**context, "meter_value": None}, values)
        return topic, template, with_meter_value

    def _sample_template(self, context: dict[str, Any], with_nrm: bool) -> tuple[str, str]:
        topic = f"{self.root}/" + self._sample_route.topic.format(**context)
        values = [kv for kv in _SAMPLE_VALUES if with_nrm or kv[0] != "normalised_uGy_h"]
        return topic, json_template(self._sample_route.payload, {**context, "normalised_uGy_h": None}, values)


# -- InfluxDB line protocol -------------------------------------------------------------------


_MEAS_ESC = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n"})
_KEY_ESC = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})
_UNIT_CHARS = re.compile(r"[^A-Za-z0-9_]")


def unit_suffix(unit: str) -> str:
    """'uGy/h' -> 'uGy_h', 'µSv/h' -> 'uSv_h', 'cps' -> 'cps'."""
    return _UNIT_CHARS.sub("_", unit.replace("µ", "u").replace("μ", "u").replace("/", "_"))


def _field(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None  # line protocol has no NaN/inf
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def ts_ms(ts: str) -> int:
    return round(datetime.fromisoformat(ts).timestamp() * 1000)


def ts_ns(ts: str, seq: int) -> int:
    """The row's own millisecond timestamp, in ns, with ``seq % 10**6`` as the sub-millisecond part.

    Two readings of one meter can share a millisecond (a late poll catching up);
    in InfluxDB the second would overwrite the first. The sub-ms part keeps them
    apart and is a function of the row, so a replayed row is the same point.
    """
    return ts_ms(ts) * 1_000_000 + seq % 1_000_000


# A series' measurement and tag set repeat on every point, and field keys on
# every point of a measurement: escaping them once (bounded caches) halves the
# cost of a line, which matters when a backlog drains.


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> str:
    return text.translate(_KEY_ESC)


@functools.lru_cache(maxsize=1024)
def _series(measurement: str, tags: tuple[tuple[str, Any], ...]) -> str:
    tag_part = "".join(f",{_key(k)}={_key(str(v))}" for k, v in sorted(tags) if v is not None and str(v) != "")
    return f"{measurement.translate(_MEAS_ESC)}{tag_part}"


def line(measurement: str, tags: dict[str, Any], fields: dict[str, Any], timestamp_ns: int) -> str:
    """One point in line protocol (ns precision); tags sorted, empty/None tags and fields left out."""
    field_items = [f"{_key(k)}={rendered}" for k, v in fields.items() if (rendered := _field(v)) is not None]
    if not field_items:
        raise ValueError(f"{measurement}: a point needs at least one field")
    return f"{_series(measurement, tuple(tags.items()))} {','.join(field_items)} {timestamp_ns}"


@dataclass(frozen=True)
class InfluxContext:
    site: str
    channel_heights_cm: dict[str, float]


def reading_tags(ctx: InfluxContext, meter: str) -> dict[str, Any]:
    return {"site": ctx.site, "meter": meter}


def reading_value_key(unit: str) -> str:
    return f"value_{unit_suffix(unit)}"


def reading_line(row: dict[str, Any], ctx: InfluxContext) -> str:
    return line(
        "reading",
        reading_tags(ctx, row["meter"]),
        {reading_value_key(row["unit"]): float(row["value"]), "seq": row["seq"]},
        ts_ns(row["ts"], row["seq"]),
    )


def sample_tags(ctx: InfluxContext, channel: str, meter: str, room_category: Any) -> dict[str, Any]:
    height = ctx.channel_heights_cm.get(channel)
    return {
        "site": ctx.site,
        "channel": channel,
        "meter": meter,
        "room_category": room_category,
        "height": f"{height:g}" if height is not None else None,
    }


# A sample point's fields, in this order (``below_background`` as 0/1).
SAMPLE_FIELDS = (
    "value_uGy_h",
    "mean_uGy_h",
    "background_uGy_h",
    "net_uGy_h",
    "normalised_uGy_h",
    "effective_uSv_h",
    "limit_uSv_h",
    "ratio",
    "below_background",
    "window_n",
    "seq",
    "reading_seq",
)


def sample_line(row: dict[str, Any], ctx: InfluxContext) -> str:
    fields = {key: row[key] for key in SAMPLE_FIELDS}
    fields["below_background"] = int(row["below_background"])
    return line(
        "sample",
        sample_tags(ctx, row["channel"], row["meter"], row["room_category"]),
        fields,
        ts_ns(row["ts"], row["seq"]),
    )


class CompactLines:
    """Line protocol for the compact rows of ``journal/points.py``: a template per series, values filled in.

    A series' measurement, tag set, field keys and the fields constant for its
    context (a sample's background and limit) are rendered once, into a
    template that takes a row's tuple as it is read (its key first, swallowed
    by ``%.0s``). A page of rows is one ``%`` format of one template per row
    (:meth:`page`); a row alone is :meth:`reading` / :meth:`sample`. The lines
    are the same as :func:`reading_line` and :func:`sample_line` give for the
    row through the views (tests compare them); a row with a value line
    protocol has no form for (None, inf) is built field by field as they
    build it, leaving that field out.
    """

    def __init__(self, ctx: InfluxContext):
        self.ctx = ctx
        # key -> (series, fields template, the whole line's template with the key and series in it)
        self._readings: dict[int, tuple[str, str, str]] = {}
        self._samples: dict[int, tuple[str, str, str]] = {}

    def page(
        self,
        table: str,
        rows: list[tuple[Any, ...]],
        contexts: dict[int, Any],
    ) -> str | None:
        """The lines of ``rows`` of ``table`` ("readings" or "samples"), joined by newlines.

        None when a value is not a finite number (the rows then go one by one
        through :meth:`reading` / :meth:`sample`, which leave such a field
        out); KeyError for a context id not in ``contexts``.
        """
        known = self._samples if table == "samples" else self._readings
        try:
            form = "\n".join([known[row[0]][2] for row in rows])
        except KeyError:
            for row in rows:
                self._template(table, row[0], contexts)
            form = "\n".join([known[row[0]][2] for row in rows])
        values = tuple(chain.from_iterable(rows))
        try:
            total = sum(values)  # TypeError for None (or text); inf or nan when one is not finite
        except TypeError:
            return None
        if total - total != 0:  # inf - inf is nan; finite values that overflow come here too (one by one is right)
            return None
        return form % values

    def _template(self, table: str, key: int, contexts: dict[int, Any]) -> tuple[str, str, str]:
        known = self._samples if table == "samples" else self._readings
        found = known.get(key)
        if found is None:
            if table == "samples":
                series, fields = self._sample_template(contexts[key // 2], not key % 2)
            else:
                meter, unit = contexts[key]
                series = _series("reading", tuple(reading_tags(self.ctx, meter).items()))
                fields = f" {_key(reading_value_key(unit))}=%r,seq=%di %d"
            # The whole line takes the row as it is read: "%.0s" swallows its key (and a sample's
            # absent normalised value, in its fields template); the series may hold a "%".
            whole = "%.0s" + series.replace("%", "%%") + fields
            found = known[key] = (series, fields, whole)
        return found

    def reading(self, row: tuple[Any, ...], context: tuple[str, str]) -> str:
        """``row`` as ``points.READINGS_SQL`` selects it; ``context`` (meter, unit) of its id."""
        series, template, _ = self._template("readings", row[R_KEY], {row[R_KEY]: context})
        fields = template % row[1:]
        if _UNFIT in fields or "inf" in fields or "nan" in fields:
            meter, unit = context
            return line(
                "reading",
                reading_tags(self.ctx, meter),
                {reading_value_key(unit): row[R_VALUE], "seq": row[R_SEQ]},
                row[R_NS],
            )
        return series + fields

    def sample(self, row: tuple[Any, ...], context: tuple[str, str, int, float, float]) -> str:
        """``row`` as ``points.SAMPLES_SQL`` selects it.

        ``context``: (channel, meter, room category, background, limit) of its id.
        """
        key = row[S_KEY]
        series, template, _ = self._template("samples", key, {key // 2: context})
        fields = template % row[1:]
        if _UNFIT in fields or "inf" in fields or "nan" in fields:
            channel, meter, room_category, background, limit = context
            normalised = None if key % 2 else row[S_NRM]
            values = (
                *(row[S_VALUE], row[S_MEAN], background, row[S_NET], normalised, row[S_E], limit),
                *row[S_RATIO:S_NS],  # ratio, below, window_n, seq, reading_seq
            )
            return line(
                "sample",
                sample_tags(self.ctx, channel, meter, room_category),
                dict(zip(SAMPLE_FIELDS, values, strict=True)),
                row[S_NS],
            )
        return series + fields

    def _sample_template(self, context: tuple[str, str, int, float, float], with_nrm: bool) -> tuple[str, str]:
        channel, meter, room_category, background, limit = context
        series = _series("sample", tuple(sample_tags(self.ctx, channel, meter, room_category).items()))
        constant = {"background_uGy_h": _field(background), "limit_uSv_h": _field(limit)}
        parts = []
        for key in SAMPLE_FIELDS:
            if key in constant:
                if constant[key] is not None:
                    parts.append(f"{key}={constant[key]}")
            elif key == "normalised_uGy_h":
                if with_nrm:
                    parts.append(f"{key}=%r")
                else:  # the row's 0.0 in its place is swallowed
                    parts[-1] += "%.0s"
            elif key in ("below_background", "window_n", "seq", "reading_seq"):
                parts.append(f"{key}=%di")
            else:
                parts.append(f"{key}=%r")
        return series, f" {','.join(parts)} %d"


_UNFIT = "None"  # with "inf" and "nan": what %r gives for a value line protocol cannot carry


ALARM_STATE_CODES = {"normal": 0, "warning": 1, "alarm": 2, "fault": 3}


def alarm_line(row: dict[str, Any], ctx: InfluxContext) -> str:
    """An alarm transition; the state as a number (normal 0, warning 1, alarm 2, fault 3) so dashboards can plot it.

    ``value``, ``level`` and ``warning_level`` are in the rule's unit (the
    row's ``unit``) and named by it: ``value_uSv_h`` for dose-rate rules,
    ``value_mSv`` for dose budgets, ``value_s`` for disconnected/stale, ...
    """
    suffix = unit_suffix(row.get("unit") or "")
    tags = {"site": ctx.site, "channel": row["channel"], "rule": row["rule"], "kind": row["kind"]}
    fields: dict[str, Any] = {
        "state_code": ALARM_STATE_CODES.get(row["state"], -1),
        "acknowledged": int(row["acknowledged"]),
        "latched": int(row["latched"]),
        "seq": row["seq"],
    }
    for key in ("value", "level", "warning_level"):
        if row.get(key) is not None:
            fields[f"{key}_{suffix}" if suffix else key] = row[key]
    return line("alarm", tags, fields, ts_ns(row["ts"], row["seq"]))


def survey_point_line(row: dict[str, Any], ctx: InfluxContext) -> str:
    """An evaluated survey point: its room and category as tags, E, the limit, the ratio and ``failed`` (0/1).

    ``failed`` is the journal's verdict as a number (the time-series databases
    keep numbers; VictoriaMetrics drops text fields), so a dashboard counts
    failing points without re-deriving the verdict from a rounded ratio.
    """
    try:
        room = json.loads(row.get("payload") or "{}").get("room")
    except (ValueError, AttributeError):
        room = None
    tags = {
        "site": ctx.site,
        "survey": row["survey"],
        "point": row["point"],
        "room": room if isinstance(room, str) else None,
        "room_category": row["room_category"],
    }
    fields = {
        "effective_uSv_h": row["effective_uSv_h"],
        "limit_uSv_h": row["limit_uSv_h"],
        "ratio": row["ratio"],
        "failed": int(row["verdict"] == "fail"),
        "seq": row["seq"],
    }
    return line("survey_point", tags, fields, ts_ns(row["ts"], row["seq"]))


INFLUX_ROUTES: dict[str, Callable[[dict[str, Any], InfluxContext], str]] = {
    "readings": reading_line,
    "samples": sample_line,
    "alarm_events": alarm_line,
    "survey_points": survey_point_line,
}
