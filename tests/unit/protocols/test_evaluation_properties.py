"""Properties of the evaluation maths, and robustness against any input document."""

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.evaluation import effective_dose_rate, evaluate, normalise
from radsurvey.protocols.profiles import get_profile
from radsurvey.protocols.survey import parse_survey, parse_survey_text

KZ = get_profile("kz-2008-303")
dose_rates = st.floats(min_value=0, max_value=1e6, allow_nan=False)
positive = st.floats(min_value=1e-3, max_value=1e5, allow_nan=False)
factors = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
close = {"rel": 1e-12, "abs": 1e-300}


@given(dose_rates)
def test_a_uniform_field_at_four_heights_gives_half_the_dose_rate(d):
    assert effective_dose_rate({30: d, 80: d, 120: d, 160: d}) == (
        "2",
        pytest.approx(0.5 * d, **close),
    )


@given(dose_rates, st.sampled_from([30, 80, 120, 160, 100]))
def test_a_single_height_gives_half_the_dose_rate(d, height):
    assert effective_dose_rate({height: d}) == ("4", pytest.approx(0.5 * d, **close))


@given(dose_rates)
def test_a_uniform_wall_field_gives_0_375_d_literal(d):
    assert effective_dose_rate({80: d, 120: d}, "literal") == (
        "3",
        pytest.approx(0.375 * d, **close),
    )


@given(dose_rates)
def test_a_uniform_wall_field_gives_0_5_d_conservative(d):
    expected = ("3", pytest.approx(0.5 * d, **close))
    assert effective_dose_rate({80: d, 120: d}, "conservative") == expected


@given(dose_rates, positive, positive, factors)
def test_normalisation_is_linear_in_the_net_dose_rate(net, current, workload, k):
    scaled = normalise(k * net, current, workload)
    assert scaled == pytest.approx(k * normalise(net, current, workload), **close)


@given(dose_rates, positive, positive, factors)
def test_normalisation_is_linear_in_the_workload(net, current, workload, k):
    scaled = normalise(net, current, k * workload)
    assert scaled == pytest.approx(k * normalise(net, current, workload), **close)


@given(dose_rates, positive, positive, factors)
def test_normalisation_is_inverse_in_the_anode_current(net, current, workload, k):
    scaled = normalise(net, k * current, workload)
    assert scaled == pytest.approx(normalise(net, current, workload) / k, **close)


# --- any input either evaluates to a finite, serialisable result or raises SurveyError ---

json_scalars = (
    st.none() | st.booleans() | st.integers(min_value=-(10**30), max_value=10**30) | st.floats() | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16,
)
any_float = st.floats() | st.integers(min_value=-(10**20), max_value=10**20)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``valid``, rarely ``other``: documents with many fields stay valid often enough."""
    return st.integers(min_value=0, max_value=24).flatmap(lambda n: other if n == 12 else valid)


# valid values span every magnitude from 5e-324 to 1.8e308
rates = st.floats(min_value=0, allow_nan=False, allow_infinity=False)
currents = st.floats(min_value=0, exclude_min=True, allow_nan=False, allow_infinity=False)
series = mostly(st.lists(rates, min_size=3, max_size=5), st.lists(any_float, max_size=5))
height_sets = st.sampled_from([("30", "80", "120", "160"), ("80", "120"), ("80",), ("120",), ("100",), ("30", "80")])


@st.composite
def readings_by_height(draw: st.DrawFn) -> dict[str, list[Any]]:
    keys = draw(mostly(height_sets, st.lists(st.text(max_size=4), max_size=3)))
    return {key: draw(series) for key in keys}


def point_at(index: int) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "id": mostly(st.just(f"P{index}"), st.sampled_from(["P0", "", " "])),
            "room": st.text(max_size=5),
            "category": mostly(st.integers(min_value=1, max_value=7), st.integers()),
            "kind": mostly(st.sampled_from([k.key for k in KZ.point_kinds]), st.text(max_size=4)),
            "anode_current_mA": mostly(currents, any_float),
            "readings_uGy_h": readings_by_height(),
        },
        optional={"anode_voltage_kV": mostly(currents, any_float), "note": json_values},
    )


@st.composite
def plausible_surveys(draw: st.DrawFn) -> dict[str, Any]:
    count = draw(st.integers(min_value=1, max_value=3))
    return draw(
        st.fixed_dictionaries(
            {
                "schema": st.just("radsurvey.survey/1"),
                "protocol": mostly(st.just("kz-2008-303"), st.text(max_size=5)),
                "apparatus": st.sampled_from([w.key for w in KZ.workloads] + ["xray_9000"]),
                "background_uGy_h": series,
                "points": st.tuples(*(point_at(i) for i in range(count))).map(list),
            },
            optional={
                "workload_mA_min_per_week": mostly(st.none() | currents, any_float),
                "background_compensated": st.booleans(),
                "options": st.fixed_dictionaries(
                    {"formula3": mostly(st.sampled_from(["literal", "conservative"]), st.text())}
                ),
                "facility": json_values,
            },
        )
    )


def evaluates_or_raises_survey_error(data: Any) -> None:
    try:
        result = evaluate(parse_survey(data, "fuzz.json"))
    except SurveyError as err:
        assert err.source == "fuzz.json"
        assert "\n" not in str(err)
        return
    document = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert all(math.isfinite(p["effective_dose_rate_uSv_h"]) for p in document["points"])
    assert all(p["effective_dose_rate_uSv_h"] >= 0 for p in document["points"])
    failed = any(p["verdict"] == "fail" for p in document["points"])
    assert document["verdict"] == ("fail" if failed else "pass")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(plausible_surveys())
def test_any_survey_shaped_document_evaluates_or_raises_survey_error(data):
    evaluates_or_raises_survey_error(data)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    found = []
    for key, value in items:
        found.append((*prefix, key))
        found.extend(_paths(value, (*prefix, key)))
    return found


@settings(max_examples=300)
@given(st.data())
def test_the_worked_example_with_any_field_changed_evaluates_or_raises(worked_example, data):
    document = worked_example()
    path = data.draw(st.sampled_from(_paths(document)))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()):
        parent[path[-1]] = data.draw(json_values)
    elif isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent.pop(path[-1])
    evaluates_or_raises_survey_error(document)


@given(json_values)
def test_any_json_value_evaluates_or_raises_survey_error(value):
    evaluates_or_raises_survey_error(value)


@given(st.text(max_size=200), st.sampled_from(["json", "toml"]))
def test_any_text_parses_or_raises_survey_error(text, fmt):
    try:
        parse_survey_text(text, fmt, "fuzz")
    except SurveyError:
        pass


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("[" * 100_000, "json"), ("a = " + "[" * 100_000, "toml"), ("1" * 5000, "json")],
    ids=["deep-json", "deep-toml", "huge-int"],
)
def test_pathological_text_raises_survey_error(text, fmt):
    with pytest.raises(SurveyError, match=f"invalid {fmt.upper()}"):
        parse_survey_text(text, fmt, "fuzz")
