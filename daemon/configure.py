"""Whole-config validation that needs more than the schema: driver options and channels."""

from __future__ import annotations

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
    return problems


def check_or_raise(cfg: DaemonConfig, source: str) -> None:
    problems = check(cfg)
    if problems:
        raise ConfigError(format_problems(source, problems))
