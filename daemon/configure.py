"""Whole-config validation that needs more than the schema: driver options, channels, files the sinks read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from radsurvey.config.loader import ConfigProblem, format_problems, problems_from_validation
from radsurvey.config.schema import ChannelConfig, DaemonConfig, MeterConfig
from radsurvey.protocols.errors import ConfigError, RadsurveyError


def check(cfg: DaemonConfig) -> list[ConfigProblem]:
    """Every problem the schema cannot see, each with its key path."""
    problems: list[ConfigProblem] = []
    if not cfg.meters:
        problems.append(ConfigProblem("meters", NO_METERS))
    problems += _meter_problems(cfg.meters)
    problems += _channel_problems(cfg.channels)
    problems += sink_file_problems(cfg)
    problems += ack_key_problems(cfg)
    problems += web_problems(cfg)
    return problems


def web_problems(cfg: DaemonConfig) -> list[ConfigProblem]:
    """[web]: the TLS pair loads, and an existing accounts file reads (it may not exist yet)."""
    web = cfg.web
    if web is None or not web.enabled:
        return []
    problems: list[ConfigProblem] = []
    if web.tls_cert_file is not None and web.tls_key_file is not None:
        import ssl

        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
                str(web.tls_cert_file), str(web.tls_key_file)
            )
        except FileNotFoundError as err:
            problems.append(ConfigProblem("web.tls_cert_file", f"cannot read {err.filename or web.tls_cert_file}"))
        except (OSError, ssl.SSLError) as err:
            problems.append(ConfigProblem("web.tls_cert_file", f"the certificate and key do not load together: {err}"))
    from .web.service import users_file

    try:
        from .web.auth import UsersFile

        UsersFile(users_file(cfg)).load()
    except ConfigError as err:
        problems.append(ConfigProblem("web.users_file", str(err)))
    return problems


NO_METERS = "no meters: a daemon config needs at least one [[meters]] entry (see config/examples/)"


def _meter_problems(meters: list[MeterConfig]) -> list[ConfigProblem]:
    from radsurvey.drivers import registry

    problems: list[ConfigProblem] = []
    for meter in meters:
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
    return problems


def _channel_problems(channels: list[ChannelConfig]) -> list[ConfigProblem]:
    from .pipeline import ChannelPipeline

    problems: list[ConfigProblem] = []
    for channel in channels:
        try:
            ChannelPipeline(channel)
        except RadsurveyError as err:
            problems.append(ConfigProblem(err.field or f"channels[{channel.id}]", err.message))
    return problems


def ack_key_problems(cfg: DaemonConfig) -> list[ConfigProblem]:
    """The signing keys of MQTT acknowledgement must load now (mode 0600, well-formed), not at the first ack."""
    ack = cfg.alarms.mqtt_ack
    if not ack.enabled or ack.keys_file is None:
        return []
    from .alarms.signing import load_keys

    try:
        load_keys(ack.keys_file, what="alarms.mqtt_ack.keys_file")
    except RadsurveyError as err:
        return [ConfigProblem("alarms.mqtt_ack.keys_file", err.message.removeprefix("alarms.mqtt_ack.keys_file: "))]
    return []


def check_file(path: Path) -> tuple[DaemonConfig | None, list[ConfigProblem]]:
    """Every problem of a config file in one pass: the schema's, and the checks above on whatever parts are valid.

    The schema stops at the first level that fails (a channel with a bad field
    is not checked against its protocol, the meter references are not checked
    when any field is wrong), so on a schema failure each meter, channel and
    sink section is validated on its own and checked as far as it goes.
    """
    from radsurvey.config.loader import InvalidConfig, parse_config, read_toml

    source = str(path)
    data = read_toml(path)  # an unreadable file or invalid TOML is one error of its own
    try:
        cfg = parse_config(data, source=source)
    except ConfigError as err:
        problems = _split(err.problems if isinstance(err, InvalidConfig) else [ConfigProblem("", err.message)])
        return None, _unique(problems + _partial_problems(data))
    return cfg, _unique(_split(check(cfg)))


def _split(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """The whole-config validator joins its findings (``path: message; path: message``): one problem each."""
    out = []
    for p in problems:
        if p.path:
            out.append(p)
            continue
        for part in p.message.split("; "):
            path, sep, message = part.partition(": ")
            out.append(ConfigProblem(path, message) if sep and " " not in path else ConfigProblem("", part))
    return out


def _unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return list(dict.fromkeys(problems))


def _partial_problems(data: dict[str, Any]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    raw_meters = data.get("meters", [])
    raw_channels = data.get("channels", [])
    if not isinstance(raw_meters, list) or not isinstance(raw_channels, list):
        return problems
    if not raw_meters:
        problems.append(ConfigProblem("meters", NO_METERS))
    meters = [m for m in (_valid(MeterConfig, raw) for raw in raw_meters) if m is not None]
    channels = [c for c in (_valid(ChannelConfig, raw) for raw in raw_channels) if c is not None]
    problems += _meter_problems(meters)
    problems += _channel_problems(channels)
    meter_ids = {m.get("id") for m in raw_meters if isinstance(m, dict)}
    for raw in raw_channels:  # a channel with another bad field still names its meter
        if isinstance(raw, dict) and isinstance(raw.get("meter"), str) and raw["meter"] not in meter_ids:
            where = f"channels[{raw.get('id')}]" if isinstance(raw.get("id"), str) else "channels"
            problems.append(ConfigProblem(f"{where}.meter", f"no meter with id {raw['meter']!r}"))
    from types import SimpleNamespace

    from radsurvey.config.sinks import InfluxConfig, MqttConfig

    sections = SimpleNamespace(
        mqtt=_valid(MqttConfig, data["mqtt"]) if "mqtt" in data else None,
        influxdb=_valid(InfluxConfig, data["influxdb"]) if "influxdb" in data else None,
    )
    problems += sink_file_problems(sections)
    return problems


def _valid(model: Any, raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError:
        return None


def sink_file_problems(cfg: Any) -> list[ConfigProblem]:
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


def load_checked(path: Path) -> DaemonConfig:
    """The config of ``path`` if it has no problem at all; else ConfigError listing every problem."""
    cfg, problems = check_file(path)
    if problems or cfg is None:
        raise ConfigError(format_problems(str(path), problems))
    return cfg
