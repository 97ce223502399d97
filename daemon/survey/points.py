"""A measurement point's definition (its spec) checked against the protocol before anything is stored.

The guided capture checks every answer with :func:`check_field` as it is given
(re-asking on a terminal, failing in one line without one), and ``resume``
checks the specs a session already holds with :func:`check_point_spec`, so a
point an older radsurvey stored with, say, an anode current of 0 is named and
corrected instead of failing at the evaluation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

from radsurvey.protocols.errors import SurveyError
from radsurvey.protocols.formulas import select_formula
from radsurvey.protocols.profiles import Formula3Variant, Profile

# The order the capture asks them in; ``location``, ``anode_voltage_kV`` and K may stay empty.
SPEC_FIELDS = (
    "id",
    "room",
    "location",
    "category",
    "kind",
    "heights_cm",
    "anode_current_mA",
    "anode_voltage_kV",
    "design_attenuation_factor",
)
OPTIONAL_FIELDS = ("location", "anode_voltage_kV", "design_attenuation_factor")
DWELLING_CATEGORY = 7  # App. 14 Table 2 row 7; p.25 asks for the design attenuation factor K there

# The kind of point a room category usually calls for (the default offered at the prompt; the
# regulation ties kinds to places, not to categories, so this is radsurvey's suggestion only):
# category 1 is the procedure room's workplace (p.19), 2-5 rooms next to it (p.22, the wall
# pair is the common case), 6 the territory (p.8), 7 a dental room's wall to a dwelling (p.25).
KIND_BY_CATEGORY = {1: "workplace", 2: "wall", 3: "wall", 4: "wall", 5: "wall", 6: "territory", 7: "wall"}


def default_kind(category: Any) -> str:
    """The kind offered for a point of ``category`` (docs/survey.md): never the previous point's.

    Reusing the previous kind made Enter after an "above" point record a wall point as "above"
    (formula 4 instead of 3); the prompt shows the formula before the first reading as well.
    """
    return KIND_BY_CATEGORY.get(category, "workplace") if isinstance(category, int) else "workplace"


def parse_decimal(text: str) -> float:
    """A number typed at a prompt, with a decimal point or a decimal comma: ``1.5``, ``1,5``, `` 0,10 ``.

    ValueError with a sentence saying what was wrong.
    """
    cleaned = text.strip().replace(" ", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a number; type e.g. 1.5 or 1,5") from None
    if not math.isfinite(value):
        raise ValueError(f"{text.strip()!r} is not a finite number")
    return value


_NUMBER = r"\d+(?:[.,]\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|–|\.\.|to|\s)\s*({_NUMBER})\s*$")


def parse_range(text: str) -> tuple[float, float]:
    """A range typed at a prompt: ``15-3000``, ``0,1-1000``, ``0.1 .. 1000``, ``15 to 3000``.

    ValueError with a sentence when it is not a range with 0 < low < high.
    """
    match = _RANGE.match(text)
    if match:
        low, high = parse_decimal(match[1]), parse_decimal(match[2])
        if 0 < low < high:
            return low, high
    raise ValueError(f"{text.strip()!r} is not a range; type the lower and upper limit, e.g. 15-3000 or 0,1-1000")


def parse_attenuation_factor(text: str) -> float | None:
    """K typed at the prompt (``-`` when there is none); ValueError unless a number > 0."""
    if text.strip() in ("", "-"):
        return None
    value = parse_decimal(text)
    if value <= 0:
        raise ValueError("K is an attenuation factor > 0 (the dose rate is divided by it)")
    return value


def entered_at_wait(text: str) -> str:
    """What to tell the technician who typed ``text`` where only Enter was expected ("" for Enter alone)."""
    typed = text.strip()
    if not typed:
        return ""
    return f"{typed!r} was not used: this step waits for Enter alone; readings are asked for next"


def parse_heights(text: str) -> list[int]:
    """Heights typed at the prompt: ``80``, ``80 cm``, ``80cm``, ``30, 80 120 160 cm``.

    ValueError with a sentence saying what was wrong and what to type.
    """
    heights: list[int] = []
    for token in text.lower().replace(",", " ").replace(";", " ").split():
        number = token.removesuffix("cm")
        if not number:
            continue  # a lone "cm"
        if not (number.isascii() and number.isdigit()):
            raise ValueError(f"{token!r} is not a height in whole centimetres; type e.g. 80 or 80 120")
        height = int(number)
        if height <= 0:
            raise ValueError("a height is above the floor (> 0 cm)")
        if height in heights:
            raise ValueError(f"height {height} cm is given twice")
        heights.append(height)
    if not heights:
        raise ValueError("type at least one height, e.g. 80 or 80 120")
    return heights


def lenient_number(value: Any) -> Any:
    """A number from a plan value that may be a numeric string; anything else unchanged (the check names it)."""
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _positive_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def check_field(
    key: str,
    spec: dict[str, Any],
    profile: Profile,
    *,
    formula3: str = "literal",
    taken_ids: Collection[str] = (),
) -> str:
    """What is wrong with ``spec[key]`` ("" if nothing), as a sentence for the user."""
    value = spec.get(key)
    if key == "id":
        if not isinstance(value, str) or not value.strip():
            return "a point needs an id, e.g. R1"
        if value in taken_ids:
            return f"point {value!r} already exists; choose another id"
        return ""
    if key in ("room", "location"):
        return "" if value is None or isinstance(value, str) else f"should be text, got {value!r}"
    if key == "category":
        if not isinstance(value, int) or isinstance(value, bool) or profile.category(value) is None:
            known = ", ".join(str(c.number) for c in profile.categories)
            return f"unknown room category {value!r}; known: {known} (App. 14 Table 2)"
        return ""
    if key == "kind":
        if not isinstance(value, str) or profile.point_kind(value) is None:
            return f"unknown point kind {value!r}; known: {', '.join(k.key for k in profile.point_kinds)}"
        return ""
    if key == "heights_cm":
        if not isinstance(value, list) or not value:
            return "at least one measurement height is needed"
        if not all(isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in value):
            return f"heights must be whole centimetres above the floor, got {value!r}"
        if len(set(value)) != len(value):
            return f"a height is given twice in {value!r}"
        variant: Formula3Variant = "conservative" if formula3 == "conservative" else "literal"
        try:
            kind = spec.get("kind") if isinstance(spec.get("kind"), str) else None
            select_formula(value, variant, profile=profile, kind=kind)
        except SurveyError as err:
            return str(err.message)
        return ""
    if key == "anode_current_mA":
        if not _positive_number(value):
            return f"the anode current must be a number > 0 mA (formula 1 divides by it), got {value!r}"
        return ""
    if key == "anode_voltage_kV":
        if value is not None and not _positive_number(value):
            return f"the anode voltage must be a number > 0 kV, got {value!r}"
        return ""
    if key == "design_attenuation_factor":
        return _attenuation_problem(value, spec.get("category"))
    return ""


def _attenuation_problem(value: Any, category: Any) -> str:
    if value is None:
        return ""
    if category != DWELLING_CATEGORY:
        return (
            f"a design attenuation factor applies to dwellings next to a dental room (category"
            f" {DWELLING_CATEGORY}, App. 14 p.25), not to category {category}"
        )
    if not isinstance(value, dict) or set(value) != {"value", "source"}:
        return f'give K as {{value = K, source = "the shielding design"}}, got {value!r}'
    if not _positive_number(value["value"]):
        return f"K must be a number > 0, got {value['value']!r}"
    if not isinstance(value["source"], str) or not value["source"].strip():
        return "K needs its source (the room's shielding design: document, sheet)"
    return ""


def check_point_spec(
    spec: dict[str, Any], profile: Profile, *, formula3: str = "literal", taken_ids: Collection[str] = ()
) -> list[tuple[str, str]]:
    """Every problem of a point spec as (field, sentence), in the order the capture asks."""
    problems = []
    for key in SPEC_FIELDS:
        if key in OPTIONAL_FIELDS and spec.get(key) is None:
            continue
        problem = check_field(key, spec, profile, formula3=formula3, taken_ids=taken_ids)
        if problem:
            problems.append((key, problem))
    return problems
