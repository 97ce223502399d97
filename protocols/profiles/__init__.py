"""Protocol profiles: each regulation's tables and constants, shipped as TOML data.

A profile is one ``<id with _ for ->.toml`` file in this package; see
``protocols/README.md`` for how to add one.
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources

from pydantic import ValidationError

from ..errors import ProfileError
from .models import (
    FORMULA3_VARIANTS,
    Choice,
    ExposedGroup,
    Formula3,
    Formula3Variant,
    Formula4,
    InstrumentRequirements,
    PointKind,
    Profile,
    RoomCategory,
    Sourced,
    WeightedHeights,
    Workload,
)

DEFAULT_PROFILE_ID = "kz-2008-303"


def get_profile(profile_id: str) -> Profile:
    """The profile with this id; ProfileError naming the known ids if there is none."""
    for profile in list_profiles():
        if profile.id == profile_id:
            return profile
    known = ", ".join(p.id for p in list_profiles())
    raise ProfileError(f"unknown protocol {profile_id!r}; known: {known}")


@functools.cache
def list_profiles() -> tuple[Profile, ...]:
    """Every packaged profile, sorted by id."""
    files = resources.files(__name__)
    profiles = [
        _load(entry.name, entry.read_text(encoding="utf-8"))
        for entry in files.iterdir()
        if entry.name.endswith(".toml")
    ]
    return tuple(sorted(profiles, key=lambda p: p.id))


def _load(name: str, text: str) -> Profile:
    try:
        return Profile.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"invalid TOML: {err}", source=name) from err
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ProfileError(first["msg"], source=name, field=field or None) from err


__all__ = [
    "DEFAULT_PROFILE_ID",
    "FORMULA3_VARIANTS",
    "Choice",
    "ExposedGroup",
    "Formula3",
    "Formula3Variant",
    "Formula4",
    "InstrumentRequirements",
    "PointKind",
    "Profile",
    "RoomCategory",
    "Sourced",
    "WeightedHeights",
    "Workload",
    "get_profile",
    "list_profiles",
]
