"""Load and validate the daemon configuration: file < environment < CLI."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from radsurvey.protocols.errors import ConfigError

from .schema import DaemonConfig

ENV_PREFIX = "RADSURVEY_"


@dataclass(frozen=True)
class ConfigProblem:
    path: str  # key path, e.g. "channels[ch1].room_category"
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidConfig(ConfigError):
    """The configuration failed validation; ``problems`` lists every problem with its key path."""

    def __init__(self, message: str, problems: list[ConfigProblem]):
        super().__init__(message)
        self.problems = problems


def format_problems(source: str, problems: list[ConfigProblem]) -> str:
    head = f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return head + "".join(f"\n  {p}" for p in problems)


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def environment_overrides(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``RADSURVEY_JOURNAL__PATH=/x`` -> ``{"journal": {"path": "/x"}}``.

    Only section scalars are taken; lists (meters, channels) live in the file.
    Names meant for other purposes (``RADSURVEY_MQTT_PASSWORD`` has one
    underscore) are not touched.
    """
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].lower().partition("__")
        if section in known_sections() and key and "__" not in key:
            out.setdefault(section, {})[key] = value
    return out


def known_sections() -> tuple[str, ...]:
    """Sections that are tables of scalars, settable from the environment."""
    return tuple(name for name in DaemonConfig.model_fields if name not in ("meters", "channels"))


def _loc_to_path(loc: tuple[int | str, ...], data: Mapping[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for item in loc:
        if isinstance(item, int):
            label = str(item)
            if isinstance(node, list) and 0 <= item < len(node) and isinstance(node[item], dict):
                ident = node[item].get("id")
                if isinstance(ident, str) and ident:
                    label = ident
            parts[-1] = f"{parts[-1]}[{label}]" if parts else f"[{label}]"
            node = node[item] if isinstance(node, list) and 0 <= item < len(node) else None
        else:
            parts.append(str(item))
            node = node.get(item) if isinstance(node, Mapping) else None
    return ".".join(parts)


def unknown_key_message(key: str, valid_keys: Iterable[str]) -> str:
    """``unknown key``, with the nearest valid key and the list of valid ones."""
    import difflib

    valid = sorted(valid_keys)
    near = difflib.get_close_matches(key, valid, n=1)
    return "unknown key" + (f" (did you mean {near[0]!r}?)" if near else "") + f"; valid keys: {', '.join(valid)}"


def problems_from_validation(
    err: ValidationError, data: Mapping[str, Any], *, valid_keys: Iterable[str] | None = None
) -> list[ConfigProblem]:
    """One problem per error, with its key path; ``valid_keys`` are listed for an unknown top-level key."""
    problems = []
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and x.startswith("function-")))
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            message = "unknown key"
            if valid_keys is not None and len(loc) == 1:
                message = unknown_key_message(str(loc[0]), valid_keys)
        problems.append(ConfigProblem(_loc_to_path(loc, data), message))
    return problems


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DaemonConfig:
    merged = _deep_merge(dict(data), environment_overrides(environ))
    merged = _deep_merge(merged, overrides or {})
    try:
        return DaemonConfig(**merged)
    except ValidationError as err:
        problems = problems_from_validation(err, merged)
        raise InvalidConfig(format_problems(source, problems), problems) from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config file not found", source=str(path)) from None
    except OSError as err:
        raise ConfigError(f"cannot read config file: {err.strerror}", source=str(path)) from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", source=str(path)) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"invalid TOML: {err}", source=str(path)) from None


def load_config(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DaemonConfig:
    path = Path(path)
    return parse_config(read_toml(path), source=str(path), environ=environ, overrides=overrides)
