"""``[influxdb] api``: the keys of each write API, and one clear error for the other's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from radsurvey.config import parse_config
from radsurvey.daemon.sinks.influx import lacks_v2_api
from radsurvey.protocols.errors import ConfigError


def config(influxdb: dict[str, Any]) -> dict[str, Any]:
    return {
        "meters": [{"id": "m1", "driver": "simulated"}],
        "channels": [{"id": "c1", "meter": "m1", "room_category": 1}],
        "influxdb": influxdb,
    }


def test_v2_stays_the_default() -> None:
    cfg = parse_config(config({"bucket": "radsurvey"}), environ={})
    assert cfg.influxdb is not None and cfg.influxdb.api == "v2"


def test_v1_takes_database_retention_policy_and_username() -> None:
    cfg = parse_config(
        config({"api": "v1", "database": "radsurvey", "retention_policy": "two_years", "username": "writer"}),
        environ={},
    )
    assert cfg.influxdb is not None
    assert (cfg.influxdb.database, cfg.influxdb.retention_policy, cfg.influxdb.username) == (
        "radsurvey",
        "two_years",
        "writer",
    )


def test_v1_without_database_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r'api = "v1" needs database'):
        parse_config(config({"api": "v1"}), environ={})


@pytest.mark.parametrize("key", ["org", "bucket", "token_file"])
def test_v2_keys_with_v1_are_an_error_naming_them(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}: v2 settings"):
        parse_config(config({"api": "v1", "database": "d", key: "x"}), environ={})


@pytest.mark.parametrize("key", ["database", "retention_policy", "username"])
def test_v1_keys_without_api_v1_are_an_error_naming_them(key: str) -> None:
    with pytest.raises(ConfigError, match=rf'{key}: settings of api = "v1"'):
        parse_config(config({key: "x"}), environ={})


def test_a_v1_user_without_a_password_is_refused_when_the_sink_is_built() -> None:
    from radsurvey.daemon.sinks.influx import InfluxSink

    cfg = parse_config(
        config({"api": "v1", "database": "d", "username": "u", "password_env": "NO_SUCH_VARIABLE_HERE"}),
        environ={},
    )
    assert cfg.influxdb is not None
    with pytest.raises(ConfigError, match=r"NO_SUCH_VARIABLE_HERE"):
        InfluxSink(cfg, cfg.influxdb)


@pytest.mark.parametrize(
    ("version", "lacks"),
    [
        ("1.6.7~rc0", True),
        ("1.7.10", True),
        ("v1.0.2", True),
        ("1.8.10", False),
        ("2.7.4", False),
        ("v2.0.0", False),
        (None, True),
        ("unknown", False),
    ],
)
def test_which_servers_have_no_v2_write_api(version: str | None, lacks: bool) -> None:
    assert lacks_v2_api(version) is lacks


def test_a_missing_v1_password_file_is_a_config_check_problem_naming_the_key(tmp_path: Path) -> None:
    from radsurvey.daemon.configure import check

    absent = tmp_path / "absent"
    cfg = parse_config(
        config({"api": "v1", "database": "d", "username": "u", "password_file": str(absent)}), environ={}
    )
    assert [(p.path, p.message) for p in check(cfg)] == [("influxdb.password_file", f"file not found: {absent}")]
