"""Protocol profiles: regulations as data (TOML), shipped with the package or brought by the user.

Two kinds share one format (docs/profiles.md):

* a **survey profile** (``schema = "radsurvey.profile/1"``): a survey method with
  its tables and constants, and optionally dose limits;
* a **limits profile** (``schema = "radsurvey.limits/1"``): dose limits and
  their periods only; the survey maths stay those of the survey profile.

Shipped profiles are ``*.toml`` files in this package. Others come from the
directories of :func:`set_search_path` (the command line sets the user's and
the system's config directories) and from files named by path. Reading these
data files is the only file access of ``protocols``; which directories to read
is decided by the layer above.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .. import profile_dirs
from ..errors import ProfileError
from .models import (
    FORMULA3_VARIANTS,
    Choice,
    DoseLimit,
    ExposedGroup,
    Formula3,
    Formula3Variant,
    Formula4,
    InstrumentRequirements,
    LimitsProfile,
    PointKind,
    Profile,
    ResolvedLimit,
    RoomCategory,
    Sourced,
    WeightedHeights,
    Workload,
)

DEFAULT_PROFILE_ID = "kz-2008-303"
SCHEMAS = ("radsurvey.profile/1", "radsurvey.limits/1")

AnyProfile = Profile | LimitsProfile


@dataclass(frozen=True)
class Entry:
    """A profile and where it was found (``origin``: package, user, system or file)."""

    profile: AnyProfile
    origin: str
    path: str | None = None


_files: dict[str, Entry] = {}  # profiles loaded from a named file, by id


def set_search_path(dirs: Iterable[tuple[str, Path]]) -> None:
    """Directories of user profiles, highest precedence first, each with its origin name ("user", "system")."""
    profile_dirs.SEARCH_PATH[:] = [(origin, Path(d)) for origin, d in dirs]


def search_path() -> tuple[tuple[str, Path], ...]:
    return tuple(profile_dirs.SEARCH_PATH)


@functools.cache
def _shipped() -> tuple[Entry, ...]:
    files = resources.files(__name__)
    entries = [
        Entry(parse_profile(entry.read_text(encoding="utf-8"), entry.name), "package", str(entry))
        for entry in files.iterdir()
        if entry.name.endswith(".toml")
    ]
    return tuple(sorted(entries, key=lambda e: e.profile.id))


def _directory_entries() -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    """Profiles of the search path (first directory wins an id) and one line per file that is not usable."""
    return _read_directories(search_path())


@functools.cache
def _read_directories(dirs: tuple[tuple[str, Path], ...]) -> tuple[tuple[Entry, ...], tuple[str, ...]]:
    shipped = {e.profile.id for e in _shipped()}
    found: dict[str, Entry] = {}
    problems: list[str] = []
    for origin, directory in dirs:
        try:
            if not directory.is_dir():
                continue
            paths = sorted(directory.glob("*.toml"))
        except OSError as err:  # a folder we may not read (another user's home): one line, not a traceback
            problems.append(
                f"{directory}: cannot read this profiles folder ({err.strerror}); its profiles are not used"
            )
            continue
        for path in paths:
            try:
                profile = load_profile_file(path)
            except ProfileError as err:
                problems.append(str(err))
                continue
            if profile.id in shipped:
                problems.append(f"{path}: id {profile.id!r} is a shipped profile; give yours another id (ignored)")
            elif profile.id not in found:
                found[profile.id] = Entry(profile, origin, str(path))
            else:
                problems.append(f"{path}: id {profile.id!r} is also in {found[profile.id].path}, which is used")
    return tuple(sorted(found.values(), key=lambda e: e.profile.id)), tuple(problems)


def entries() -> tuple[Entry, ...]:
    """Every known profile: shipped, then the search path's and named files', by id."""
    own = {e.profile.id for e in _shipped()}
    rest = [e for e in _directory_entries()[0] if e.profile.id not in own]
    seen = own | {e.profile.id for e in rest}
    rest += [e for i, e in _files.items() if i not in seen]
    return _shipped() + tuple(sorted(rest, key=lambda e: e.profile.id))


def search_problems() -> tuple[str, ...]:
    """One line per profile file of the search path that could not be used."""
    return _directory_entries()[1]


def list_profiles() -> tuple[Profile, ...]:
    """Every known survey profile (with a survey method), sorted by id."""
    return tuple(e.profile for e in entries() if isinstance(e.profile, Profile))


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or ref.startswith(".")


def find_profile(ref: str, *, survey_method: bool = False) -> AnyProfile:
    """The profile with this id, or in this file (a path ending in .toml); ProfileError otherwise."""
    if _looks_like_path(ref):
        return register_file(Path(ref))
    for entry in entries():
        if entry.profile.id == ref:
            return entry.profile
    known = ", ".join(e.profile.id for e in entries() if e.profile.has_survey_method or not survey_method)
    raise ProfileError(f"unknown protocol {ref!r}; known: {known}")


def get_profile(ref: str) -> Profile:
    """The survey profile with this id (or file); ProfileError if there is none or it has no survey method."""
    profile = find_profile(ref, survey_method=True)
    if not isinstance(profile, Profile):
        raise ProfileError(
            f"{ref!r} defines dose limits only, no survey method: name a survey profile "
            f"(e.g. {DEFAULT_PROFILE_ID}) here and use {profile.id} for dose budget limits"
        )
    return profile


def names_profile(ref: str, profile: AnyProfile) -> bool:
    """Whether ``ref`` (an id, or a profile file's path) names ``profile``."""
    if ref == profile.id:
        return True
    return _looks_like_path(ref) and find_profile(ref).id == profile.id


def limits_statement(limits_ref: str, survey_profile: Profile) -> str:
    """The report's plain statement when a survey names a profile of dose limits besides its method."""
    limits = find_profile(limits_ref)
    if limits.has_survey_method:
        return f"Dose limits: {limits.id} v{limits.version}. Survey method and maths: {survey_profile.id}."
    return (
        f"Dose limits: {limits.id} v{limits.version}, which defines dose limits only, no survey method; "
        f"the survey maths (formulas, permissible dose rates, verdicts) are those of the survey profile "
        f"{survey_profile.id} v{survey_profile.version}."
    )


def get_dose_limit(profile_ref: str, key: str) -> ResolvedLimit:
    """The limit ``key`` of a profile, its value worked out; ProfileError naming the known keys."""
    profile = find_profile(profile_ref)
    limit = profile.limit(key)
    if limit is None:
        known = ", ".join(lim.key for lim in profile.limits) or "none"
        raise ProfileError(f"profile {profile.id} has no dose limit {key!r}; known: {known}")
    return limit


def register_file(path: Path) -> AnyProfile:
    """Load a profile named by its file (a config's ``profiles`` or a protocol given as a path)."""
    resolved = str(path.resolve())
    for entry in _files.values():
        if entry.path == resolved:
            return entry.profile
    profile = load_profile_file(path)
    clash = next((e for e in entries() if e.profile.id == profile.id), None)
    if clash is not None and clash.path != resolved:
        where = clash.path or "the package"
        raise ProfileError(f"id {profile.id!r} is already defined by {where}", source=str(path), field="id")
    _files[profile.id] = Entry(profile, "file", resolved)
    return profile


def load_profile_file(path: Path) -> AnyProfile:
    """Parse one profile file; ProfileError with the file and the first problem's key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"cannot read: {err}", source=str(path)) from None
    return parse_profile(text, str(path))


_ADAPTER: TypeAdapter[AnyProfile] = TypeAdapter(AnyProfile)


def parse_profile(text: str, source: str) -> AnyProfile:
    """A profile from its TOML text; ProfileError with ``source`` and the first problem's key path."""
    problems = profile_problems(text)
    if problems:
        field, message = problems[0]
        raise ProfileError(message, source=source, field=field or None)
    return _validate(tomllib.loads(text))


def _validate(data: dict[str, Any]) -> AnyProfile:
    if data.get("schema") == "radsurvey.limits/1":
        return LimitsProfile.model_validate(data)
    return Profile.model_validate(data)


def _key_path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def profile_problems(text: str) -> list[tuple[str, str]]:
    """Every problem of a profile's TOML text as (key path, message); empty when it is valid."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return [("", f"invalid TOML: {err}")]
    schema = data.get("schema")
    if schema not in SCHEMAS:
        return [("schema", f"must be one of {', '.join(SCHEMAS)} (got {schema!r})")]
    try:
        _validate(data)
    except ValidationError as err:
        return [(_key_path(p["loc"]), p["msg"].removeprefix("Value error, ")) for p in err.errors()]
    return []


def check_profile_text(text: str, source: str) -> list[str]:
    """Every problem of a profile file, one line each: ``source: key.path: message``."""
    return [
        f"{source}: {path}: {message}" if path else f"{source}: {message}" for path, message in profile_problems(text)
    ]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of both profile kinds (the TOML file's structure)."""
    return _ADAPTER.json_schema(by_alias=True)


__all__ = [
    "DEFAULT_PROFILE_ID",
    "FORMULA3_VARIANTS",
    "SCHEMAS",
    "AnyProfile",
    "Choice",
    "DoseLimit",
    "Entry",
    "ExposedGroup",
    "Formula3",
    "Formula3Variant",
    "Formula4",
    "InstrumentRequirements",
    "LimitsProfile",
    "PointKind",
    "Profile",
    "ResolvedLimit",
    "RoomCategory",
    "Sourced",
    "WeightedHeights",
    "Workload",
    "check_profile_text",
    "entries",
    "find_profile",
    "get_dose_limit",
    "get_profile",
    "json_schema",
    "limits_statement",
    "list_profiles",
    "load_profile_file",
    "names_profile",
    "parse_profile",
    "profile_problems",
    "register_file",
    "search_path",
    "search_problems",
    "set_search_path",
]
