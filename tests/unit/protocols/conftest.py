"""Shared survey documents for the protocol tests."""

import contextlib
import copy
import json
import warnings
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest

# When a property test fails, hypothesis's pytest plugin imports libcst to suggest a
# patch; libcst's import warns (mypy_extensions.TypedDict), and with warnings as
# errors that turns the failure report into an INTERNALERROR. Import it quietly now.
with warnings.catch_warnings(), contextlib.suppress(ImportError):
    warnings.simplefilter("ignore", DeprecationWarning)
    import libcst  # noqa: F401

EXAMPLES = resources.files("radsurvey.protocols.examples")


def _example_text(suffix: str) -> str:
    return (EXAMPLES / f"worked-example.{suffix}").read_text(encoding="utf-8")


WORKED_EXAMPLE: dict[str, Any] = json.loads(_example_text("json"))

MINIMAL_SURVEY: dict[str, Any] = {
    "schema": "radsurvey.survey/1",
    "protocol": "kz-2008-303",
    "apparatus": "radiography",
    "background_uGy_h": [0.1, 0.1, 0.1],
    "points": [
        {
            "id": "P1",
            "room": "corridor",
            "category": 3,
            "kind": "above",
            "anode_current_mA": 2,
            "readings_uGy_h": {"80": [1.0, 1.0, 1.0]},
        }
    ],
}


@pytest.fixture(scope="session")
def example_text() -> Callable[[str], str]:
    """The text of the packaged worked example, by suffix (``json``, ``toml``)."""
    return _example_text


@pytest.fixture(scope="session")
def worked_example() -> Callable[[], dict[str, Any]]:
    """A fresh, mutable copy of the worked example document."""
    return lambda: copy.deepcopy(WORKED_EXAMPLE)


@pytest.fixture(scope="session")
def minimal_survey() -> Callable[..., dict[str, Any]]:
    """A fresh one-point survey; keywords replace top-level fields, ``point`` point fields."""

    def make(point: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
        data = copy.deepcopy(MINIMAL_SURVEY)
        data.update(top)
        if point:
            data["points"][0].update(point)
        return data

    return make
