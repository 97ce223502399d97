"""Survey documents: what is accepted, and one clear SurveyError for everything else."""

import pytest

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.survey import parse_survey, parse_survey_text, survey_format


def rejects(data, field, message):
    """Parsing fails with ``survey.json: <field>: ...<message>...``."""
    with pytest.raises(SurveyError) as caught:
        parse_survey(data, "survey.json")
    err = caught.value
    assert (err.source, err.field) == ("survey.json", field)
    assert message in err.message
    assert str(err) == f"survey.json: {field}: {err.message}"


def test_a_minimal_survey_is_accepted(minimal_survey):
    survey = parse_survey(minimal_survey(), "survey.json")
    assert survey.points[0].heights_cm == (80,)
    assert survey.options.formula3 == "literal"
    assert survey.source == "survey.json"


def test_unknown_fields_are_kept_as_metadata(minimal_survey):
    data = minimal_survey(point={"operator": "B."}, facility={"name": "Clinic"})
    survey = parse_survey(data)
    assert survey.metadata == {"facility": {"name": "Clinic"}}
    assert survey.points[0].metadata == {"operator": "B."}


def test_fewer_than_three_readings_at_a_height_are_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"80": [1.0, 1.1]}})
    rejects(data, "points[P1].readings_uGy_h.80", "at least 3 readings required, got 2")


def test_a_negative_reading_is_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"80": [1.0, -0.5, 1.0]}})
    rejects(data, "points[P1].readings_uGy_h.80[1]", "finite number >= 0, got -0.5")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_reading_is_rejected(minimal_survey, value):
    data = minimal_survey(point={"readings_uGy_h": {"80": [1.0, 1.0, value]}})
    rejects(data, "points[P1].readings_uGy_h.80[2]", "finite number >= 0")


def test_a_reading_given_as_text_is_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"80": [1.0, "1.0", 1.0]}})
    rejects(data, "points[P1].readings_uGy_h.80[1]", "valid number, got '1.0'")


@pytest.mark.parametrize("value", [float("nan"), -0.1])
def test_an_invalid_background_reading_is_rejected(minimal_survey, value):
    rejects(minimal_survey(background_uGy_h=[0.1, value, 0.1]), "background_uGy_h[1]", "finite")


def test_fewer_than_three_background_readings_are_rejected(minimal_survey):
    data = minimal_survey(background_uGy_h=[0.1, 0.1])
    rejects(data, "background_uGy_h", "at least 3 background readings required")


def test_a_compensating_meter_needs_no_background(minimal_survey):
    data = minimal_survey(background_compensated=True, background_uGy_h=[])
    assert parse_survey(data).background_compensated


def test_an_unknown_apparatus_without_workload_is_rejected(minimal_survey):
    rejects(minimal_survey(apparatus="xray_9000"), "apparatus", "unknown apparatus 'xray_9000'")


def test_an_unknown_apparatus_with_a_workload_override_is_accepted(minimal_survey):
    data = minimal_survey(apparatus="xray_9000", workload_mA_min_per_week=300)
    assert parse_survey(data).workload_mA_min_per_week == 300


@pytest.mark.parametrize("value", [0, -5, float("inf")])
def test_a_non_positive_workload_override_is_rejected(minimal_survey, value):
    rejects(minimal_survey(workload_mA_min_per_week=value), "workload_mA_min_per_week", "> 0")


@pytest.mark.parametrize("value", [0, -1, float("nan")])
def test_a_non_positive_anode_current_is_rejected(minimal_survey, value):
    data = minimal_survey(point={"anode_current_mA": value})
    rejects(data, "points[P1].anode_current_mA", "finite number > 0")


def test_a_missing_anode_current_is_rejected(minimal_survey):
    data = minimal_survey()
    del data["points"][0]["anode_current_mA"]
    rejects(data, "points[P1].anode_current_mA", "required field is missing")


def test_an_unknown_room_category_is_rejected(minimal_survey):
    data = minimal_survey(point={"category": 8})
    rejects(data, "points[P1].category", "unknown room category 8; known: 1, 2, 3, 4, 5, 6, 7")


def test_a_room_category_given_as_text_is_rejected(minimal_survey):
    rejects(minimal_survey(point={"category": "2"}), "points[P1].category", "valid integer")


def test_an_unknown_point_kind_is_rejected(minimal_survey):
    rejects(minimal_survey(point={"kind": "roof"}), "points[P1].kind", "unknown point kind 'roof'")


@pytest.mark.parametrize(
    "heights",
    [("30", "80"), ("80", "120", "160"), ("40", "90", "130")],
)
def test_an_unsupported_height_combination_is_rejected(minimal_survey, heights):
    readings = {height: [1.0, 1.0, 1.0] for height in heights}
    data = minimal_survey(point={"readings_uGy_h": readings})
    rejects(data, "points[P1].readings_uGy_h", "unsupported height combination")


@pytest.mark.parametrize(
    ("heights", "field", "message"),
    [
        (("30", "80", "120", "160", "200"), "readings_uGy_h.200", "height 200 cm is in no band"),
        (("80", "100"), "readings_uGy_h.100", "height 100 cm lies in two bands, 80 cm (60-100 cm) and 120 cm"),
        (("30", "80", "140", "160"), "readings_uGy_h.140", "lies in two bands, 120 cm (100-140 cm) and 160 cm"),
        (("30", "70", "90", "120"), "readings_uGy_h.90", "heights 70 cm and 90 cm are both in the band of 80 cm"),
    ],
)
def test_a_height_outside_one_band_is_one_error_naming_point_height_and_bands(minimal_survey, heights, field, message):
    readings = {height: [1.0, 1.0, 1.0] for height in heights}
    data = minimal_survey(point={"kind": "workplace", "readings_uGy_h": readings})
    rejects(data, f"points[P1].{field}", message)


@pytest.mark.parametrize("height", ["eighty", "80.5", "-80", "", "8O"])
def test_a_height_that_is_not_a_whole_number_is_rejected(minimal_survey, height):
    data = minimal_survey(point={"readings_uGy_h": {height: [1.0, 1.0, 1.0]}})
    rejects(data, f"points[P1].readings_uGy_h.{height}", "whole number of centimetres")


def test_a_zero_height_is_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"0": [1.0, 1.0, 1.0]}})
    rejects(data, "points[P1].readings_uGy_h.0", "above the floor")


def test_a_height_with_a_leading_zero_is_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {"080": [1.0, 1.0, 1.0]}})
    rejects(data, "points[P1].readings_uGy_h.080", "leading zeros")


def test_a_point_without_heights_is_rejected(minimal_survey):
    data = minimal_survey(point={"readings_uGy_h": {}})
    rejects(data, "points[P1].readings_uGy_h", "at least one height")


def test_a_survey_without_points_is_rejected(minimal_survey):
    rejects(minimal_survey(points=[]), "points", "at least one point")


def test_duplicate_point_ids_are_rejected(minimal_survey):
    data = minimal_survey()
    data["points"].append(dict(data["points"][0]))
    rejects(data, "points[P1]", "point id 'P1' is used more than once")


def test_a_point_without_id_is_named_by_its_index(minimal_survey):
    data = minimal_survey()
    del data["points"][0]["id"]
    rejects(data, "points[0].id", "required field is missing")


def test_an_unknown_protocol_is_rejected_listing_the_known_ones(minimal_survey):
    rejects(minimal_survey(protocol="ru-2005"), "protocol", "known: kz-2008-303")


def test_an_unknown_schema_is_rejected(minimal_survey):
    rejects(minimal_survey(schema="radsurvey.survey/2"), "schema", "unknown schema")


def test_a_missing_schema_is_rejected(minimal_survey):
    data = minimal_survey()
    del data["schema"]
    rejects(data, "schema", "missing; expected 'radsurvey.survey/1'")


def test_an_unknown_formula3_variant_is_rejected(minimal_survey):
    data = minimal_survey(options={"formula3": "average"})
    rejects(data, "options.formula3", "'literal' or 'conservative'")


def test_an_unknown_option_is_rejected(minimal_survey):
    rejects(minimal_survey(options={"formula_3": "literal"}), "options.formula_3", "unknown option")


def test_background_compensated_must_be_a_boolean(minimal_survey):
    data = minimal_survey(background_compensated="yes")
    rejects(data, "background_compensated", "valid boolean")


def test_a_point_that_is_not_a_table_is_rejected(minimal_survey):
    rejects(minimal_survey(points=[42]), "points[0]", "JSON object or TOML table")


def test_a_document_that_is_not_a_table_is_rejected():
    with pytest.raises(SurveyError, match="must be a JSON object"):
        parse_survey([1, 2, 3], "survey.json")


def test_invalid_json_names_the_line_and_column():
    text = '{"schema": "radsurvey.survey/1",\n "protocol": }'
    with pytest.raises(SurveyError, match=r"invalid JSON: .*line 2, column 14") as err:
        parse_survey_text(text, "json", "survey.json")
    assert err.value.source == "survey.json"


def test_invalid_toml_names_the_line():
    text = 'schema = "radsurvey.survey/1"\nprotocol = \n'
    with pytest.raises(SurveyError, match=r"invalid TOML: .*line 2"):
        parse_survey_text(text, "toml", "survey.toml")


def test_a_json_key_given_twice_is_rejected():
    with pytest.raises(SurveyError, match="duplicate key 'schema'"):
        parse_survey_text('{"schema": 1, "schema": 2}', "json", "survey.json")


@pytest.mark.parametrize(("name", "fmt"), [("a.json", "json"), ("b.TOML", "toml")])
def test_the_format_follows_the_file_suffix(name, fmt):
    assert survey_format(name) == fmt


@pytest.mark.parametrize("name", ["survey.yaml", "survey", "survey.json.bak"])
def test_an_unsupported_suffix_is_rejected(name):
    with pytest.raises(SurveyError, match="unsupported file type"):
        survey_format(name)
