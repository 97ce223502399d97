"""The survey document, schema ``radsurvey.survey/1`` (docs/architecture.md#the-survey-file).

Parsing is pure: the caller reads the file and passes its text. Known fields are
validated strictly (no strings for numbers, no NaN, no negative dose rates);
anything else at the top level or in a point is kept as report metadata. Every
error is a :class:`SurveyError` naming the file and the field, with points named
by id: ``points[R1].readings_uGy_h.80: at least 3 readings required, got 2``.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from pathlib import PurePath
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)
from pydantic_core import ErrorDetails

from .errors import ProfileError, SurveyError
from .formulas import dmd_for, relocate, select_formula, workload_for
from .profiles import Formula3Variant, Profile, get_profile, names_profile

SURVEY_SCHEMA = "radsurvey.survey/1"
SurveyFormat = Literal["json", "toml"]
FORMATS: dict[str, SurveyFormat] = {".json": "json", ".toml": "toml"}


def _non_negative(value: float) -> float:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"must be a finite number >= 0, got {value!r}")
    return value


def _positive(value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"must be a finite number > 0, got {value!r}")
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _height_cm(value: object) -> int:
    """A height key: ``"80"`` in JSON and TOML (an int from Python callers)."""
    if isinstance(value, int) and not isinstance(value, bool):
        height = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        height = int(value)
        if str(height) != value:
            raise ValueError(f"height must be written without leading zeros, got {value!r}")
    else:
        raise ValueError(f"height must be a whole number of centimetres, got {value!r}")
    if height <= 0:
        raise ValueError(f"height must be above the floor (> 0 cm), got {height}")
    return height


DoseRate = Annotated[float, AfterValidator(_non_negative)]
PositiveNumber = Annotated[float, AfterValidator(_positive)]
Name = Annotated[str, AfterValidator(_non_empty)]
HeightCm = Annotated[int, BeforeValidator(_height_cm)]


class SurveyOptions(BaseModel):
    """Choices the regulation leaves open."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    formula3: Formula3Variant = "literal"


class DesignAttenuationFactor(BaseModel):
    """K from the room's shielding design (App. 14 p.25), with where it comes from."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    value: PositiveNumber
    source: Name


DWELLING_CATEGORY = 7  # App. 14 Table 2 row 7: dwellings next to a dental X-ray room (p.25)


class SurveyPoint(BaseModel):
    """One measurement point: where it is, the beam settings, and the readings by height."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    id: Name
    room: str
    category: int
    kind: str
    anode_current_mA: PositiveNumber
    anode_voltage_kV: PositiveNumber | None = None
    design_attenuation_factor: DesignAttenuationFactor | None = None
    barrier: Name | None = None  # the barrier of the room's shielding design the point stands behind
    readings_uGy_h: dict[HeightCm, list[DoseRate]]

    @property
    def heights_cm(self) -> tuple[int, ...]:
        return tuple(sorted(self.readings_uGy_h))

    @property
    def metadata(self) -> dict[str, Any]:
        """Fields this schema does not define (kept for the report)."""
        return dict(self.model_extra or {})


class Survey(BaseModel):
    """A whole survey: protocol, apparatus, background and points."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    schema_id: Literal["radsurvey.survey/1"] = Field(alias="schema")
    protocol: Name
    apparatus: Name
    workload_mA_min_per_week: PositiveNumber | None = None
    apparatus_max_voltage_kV: PositiveNumber | None = None
    background_compensated: bool = False
    background_uGy_h: list[DoseRate] = Field(default_factory=list)
    options: SurveyOptions = SurveyOptions()
    shielding_design: Name | None = None  # the room's design file (radsurvey.shielding-room/1)
    points: list[SurveyPoint]

    _source: str = PrivateAttr(default="survey")

    @property
    def source(self) -> str:
        """The file (or other origin) this survey was parsed from; errors name it."""
        return self._source

    @property
    def metadata(self) -> dict[str, Any]:
        """Fields this schema does not define (facility, instrument, people...)."""
        return dict(self.model_extra or {})


KNOWN_SURVEY_FIELDS = tuple(f.alias or name for name, f in Survey.model_fields.items())
KNOWN_POINT_FIELDS = tuple(SurveyPoint.model_fields)


def survey_format(name: str) -> SurveyFormat:
    """The document format a file name's suffix says (``.json`` or ``.toml``)."""
    suffix = PurePath(name).suffix.lower()
    if suffix not in FORMATS:
        raise SurveyError(f"unsupported file type {suffix or '(none)'!r}; use .json or .toml", source=name)
    return FORMATS[suffix]


def parse_survey_text(text: str, fmt: SurveyFormat, source: str = "survey") -> Survey:
    """Parse and validate a survey document given as JSON or TOML text."""
    return parse_survey(_decode(text, fmt, source), source)


def parse_survey(data: Mapping[str, Any], source: str = "survey") -> Survey:
    """Validate a decoded survey document against its schema and its protocol profile."""
    if not isinstance(data, Mapping):
        raise SurveyError("a survey must be a JSON object or a TOML document", source=source)
    _check_schema(data, source)
    try:
        survey = Survey.model_validate(dict(data))
    except ValidationError as err:
        raise _survey_error(err.errors()[0], data, source) from None
    survey._source = source
    check_survey(survey, profile_of(survey))
    return survey


def profile_of(survey: Survey) -> Profile:
    """The profile the survey's ``protocol`` names."""
    try:
        return get_profile(survey.protocol)
    except ProfileError as err:
        raise SurveyError(err.message, source=survey.source, field="protocol") from None


def check_survey(survey: Survey, profile: Profile) -> None:
    """Check what the profile decides: apparatus, background, categories, repeats, heights..."""
    if not names_profile(survey.protocol, profile):
        raise SurveyError(
            f"survey is for {survey.protocol!r}, not {profile.id!r}",
            source=survey.source,
            field="protocol",
        )
    try:
        workload_for(profile, survey.apparatus, survey.workload_mA_min_per_week)
    except SurveyError as err:
        raise relocate(err, source=survey.source) from None
    _check_background(survey, profile)
    if not survey.points:
        raise SurveyError("at least one point is required", source=survey.source, field="points")
    seen: set[str] = set()
    for point in survey.points:
        prefix = f"points[{point.id}]"
        if point.id in seen:
            raise SurveyError(f"point id {point.id!r} is used more than once", source=survey.source, field=prefix)
        seen.add(point.id)
        try:
            _check_point(point, profile, survey.options.formula3)
        except SurveyError as err:
            raise relocate(err, prefix=prefix, source=survey.source) from None


def _check_background(survey: Survey, profile: Profile) -> None:
    required = profile.min_repeats.value
    count = len(survey.background_uGy_h)
    if not survey.background_compensated and count < required:
        raise SurveyError(
            f"at least {required} background readings required (or set background_compensated = true), got {count}",
            source=survey.source,
            field="background_uGy_h",
        )


def _check_point(point: SurveyPoint, profile: Profile, formula3: Formula3Variant) -> None:
    dmd_for(profile, point.category)
    if profile.point_kind(point.kind) is None:
        known = ", ".join(k.key for k in profile.point_kinds)
        raise SurveyError(f"unknown point kind {point.kind!r}; known: {known}", field="kind")
    if not point.readings_uGy_h:
        raise SurveyError("at least one height is required", field="readings_uGy_h")
    required = profile.min_repeats.value
    for height, readings in point.readings_uGy_h.items():
        if len(readings) < required:
            raise SurveyError(
                f"at least {required} readings required, got {len(readings)}",
                field=f"readings_uGy_h.{height}",
            )
    if point.design_attenuation_factor is not None and point.category != DWELLING_CATEGORY:
        raise SurveyError(
            f"a design attenuation factor applies to dwellings next to a dental room (category"
            f" {DWELLING_CATEGORY}, App. 14 p.25), not to category {point.category}",
            field="design_attenuation_factor",
        )
    select_formula(point.readings_uGy_h, formula3, profile=profile, kind=point.kind)


def _check_schema(data: Mapping[str, Any], source: str) -> None:
    schema = data.get("schema")
    if schema == SURVEY_SCHEMA:
        return
    found = "missing" if schema is None else f"unknown schema {schema!r}"
    raise SurveyError(f"{found}; expected {SURVEY_SCHEMA!r}", source=source, field="schema")


def _decode(text: str, fmt: SurveyFormat, source: str) -> Any:
    try:
        if fmt == "toml":
            return tomllib.loads(text)
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        problem = f"{err.msg} (at line {err.lineno}, column {err.colno})"
    except _DuplicateKeyError as err:
        problem = f"duplicate key {err.key!r}"
    except RecursionError:
        problem = "nested too deeply"
    except ValueError as err:  # TOMLDecodeError names the line; integers with too many digits
        problem = str(err)
    raise SurveyError(f"invalid {fmt.upper()}: {problem}", source=source)


class _DuplicateKeyError(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _survey_error(error: ErrorDetails, data: Mapping[str, Any], source: str) -> SurveyError:
    return SurveyError(_message(error), source=source, field=_field_path(error["loc"], data))


def _message(error: ErrorDetails) -> str:
    if error["type"] == "value_error":
        return str(error.get("ctx", {}).get("error", error["msg"]))
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown option"
    if error["type"] in ("model_type", "dict_type"):
        message = "should be a JSON object or TOML table"
    else:
        message = error["msg"][:1].lower() + error["msg"][1:]
    if error["type"].endswith("_type"):
        shown = repr(error["input"])
        message += f", got {shown if len(shown) <= 40 else shown[:37] + '...'}"
    return message


def _field_path(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    """The user's path for a pydantic location: points by id, list items by index."""
    parts = [part for part in loc if part != "[key]"]
    path = ""
    if len(parts) >= 2 and parts[0] == "points" and isinstance(parts[1], int):
        path = f"points[{_point_label(data, parts[1])}]"
        parts = parts[2:]
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path


def _point_label(data: Mapping[str, Any], index: int) -> str:
    points = data.get("points")
    point = points[index] if isinstance(points, list) and index < len(points) else None
    point_id = point.get("id") if isinstance(point, Mapping) else None
    return point_id if isinstance(point_id, str) and point_id.strip() else str(index)
