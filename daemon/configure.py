"""Whole-config validation that needs more than the schema: driver options, channels, files the sinks read."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from radsurvey.config.loader import ConfigProblem, format_problems, problems_from_validation
from radsurvey.config.schema import DaemonConfig, MeterConfig
from radsurvey.protocols.errors import ConfigError, RadsurveyError


def check(cfg: DaemonConfig) -> list[ConfigProblem]:
    """Every problem the schema cannot see, each with its key path."""
    from radsurvey.drivers import registry

    from .pipeline import ChannelPipeline

    problems: list[ConfigProblem] = []
    for meter in cfg.meters:
        where = f"meters[{meter.id}]"
        try:
            spec = registry.get(meter.driver)
        except RadsurveyError as err:
            problems.append(ConfigProblem(f"{where}.driver", err.message))
            continue
        try:
            spec.options_model.model_validate(meter.options)
        except ValidationError as err:
            valid = {*MeterConfig.model_fields, *spec.options_model.model_fields}
            for p in problems_from_validation(err, meter.options, valid_keys=valid):
                problems.append(ConfigProblem(f"{where}.{p.path}" if p.path else where, p.message))
    for channel in cfg.channels:
        try:
            ChannelPipeline(channel)
        except RadsurveyError as err:
            problems.append(ConfigProblem(err.field or f"channels[{channel.id}]", err.message))
    problems += sink_file_problems(cfg)
    return problems


def sink_file_problems(cfg: DaemonConfig) -> list[ConfigProblem]:
    """Certificates and secret files of the enabled sinks must be readable files now, not at the first connect."""
    files: list[tuple[str, Path | None]] = []
    if cfg.mqtt is not None and cfg.mqtt.enabled:
        m = cfg.mqtt
        files += [
            ("mqtt.ca_file", m.ca_file),
            ("mqtt.cert_file", m.cert_file),
            ("mqtt.key_file", m.key_file),
            ("mqtt.password_file", m.password_file),
        ]
    if cfg.influxdb is not None and cfg.influxdb.enabled:
        files.append(("influxdb.token_file", cfg.influxdb.token_file))
        files.append(("influxdb.password_file", cfg.influxdb.password_file))
    problems = []
    for key, path in files:
        if path is None:
            continue
        message = unreadable(path)
        if message:
            problems.append(ConfigProblem(key, message))
    return problems


def unreadable(path: Path) -> str | None:
    """Why ``path`` is not a file we can read, or None if it is one."""
    if not path.exists():
        return f"file not found: {path}"
    if not path.is_file():
        return f"not a regular file: {path}"
    try:
        with path.open("rb"):
            pass
    except OSError as err:
        return f"cannot read {path}: {err.strerror}"
    return None


def check_or_raise(cfg: DaemonConfig, source: str) -> None:
    problems = check(cfg)
    if problems:
        raise ConfigError(format_problems(source, problems))
