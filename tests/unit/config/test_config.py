"""The daemon config: validated once, every problem reported with its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsurvey.config import load_config, parse_config
from radsurvey.daemon.configure import check
from radsurvey.protocols.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "config" / "examples"

MINIMAL = {
    "site": {"id": "clinic"},
    "meters": [{"id": "m1", "driver": "simulated"}],
    "channels": [{"id": "c1", "meter": "m1", "room_category": 1}],
}


def problems_of(data: dict, **kw) -> str:
    with pytest.raises(ConfigError) as err:
        parse_config(data, source="test.toml", environ={}, **kw)
    return str(err.value)


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_every_example_config_is_valid(path: Path) -> None:
    cfg = load_config(path, environ={})
    assert check(cfg) == []


def test_unknown_key_is_an_error_naming_its_path() -> None:
    data = {**MINIMAL, "journal": {"pathh": "x.sqlite"}}
    assert "journal.pathh: unknown key" in problems_of(data)


def test_channel_errors_name_the_channel_by_id() -> None:
    data = {**MINIMAL, "channels": [{"id": "desk", "meter": "m1", "room_category": "one"}]}
    assert "channels[desk].room_category" in problems_of(data)


def test_channel_must_name_an_existing_meter() -> None:
    data = {**MINIMAL, "channels": [{"id": "desk", "meter": "nope", "room_category": 1}]}
    assert "channels[desk].meter: no meter with id 'nope'" in problems_of(data)


def test_duplicate_meter_ids_are_rejected() -> None:
    data = {**MINIMAL, "meters": [{"id": "m1", "driver": "simulated"}, {"id": "m1", "driver": "simulated"}]}
    assert "duplicate id 'm1'" in problems_of(data)


def test_ids_must_be_usable_as_mqtt_topic_levels() -> None:
    data = {**MINIMAL, "site": {"id": "a/b"}}
    assert "site.id" in problems_of(data)


def test_all_problems_are_reported_at_once() -> None:
    data = {"site": {"id": "a b"}, "journal": {"commit_interval_s": -1}, "bogus": 1}
    text = problems_of(data)
    assert "3 problems" in text
    assert "site.id" in text and "journal.commit_interval_s" in text and "bogus: unknown key" in text


def test_normalisation_needs_both_current_and_workload() -> None:
    data = {**MINIMAL, "channels": [{"id": "c1", "meter": "m1", "room_category": 1, "anode_current_mA": 4}]}
    assert "needs apparatus or workload_mA_min_per_week" in problems_of(data)


def test_environment_overrides_file_and_cli_overrides_environment() -> None:
    data = {**MINIMAL, "journal": {"path": "file.sqlite", "commit_interval_s": 2}}
    env = {"RADSURVEY_JOURNAL__PATH": "/env/j.sqlite", "RADSURVEY_JOURNAL__COMMIT_INTERVAL_S": "3"}
    cfg = parse_config(data, environ=env)
    assert str(cfg.journal.path) == "/env/j.sqlite" and cfg.journal.commit_interval_s == 3
    cfg = parse_config(data, environ=env, overrides={"journal": {"path": "/cli.sqlite"}})
    assert str(cfg.journal.path) == "/cli.sqlite" and cfg.journal.commit_interval_s == 3


def test_unrelated_environment_variables_are_ignored() -> None:
    cfg = parse_config(MINIMAL, environ={"RADSURVEY_MQTT_PASSWORD": "secret", "RADSURVEY_NOPE__X": "1"})
    assert cfg.site.id == "clinic"


def test_unknown_driver_is_reported_with_the_known_ones() -> None:
    cfg = parse_config({**MINIMAL, "meters": [{"id": "m1", "driver": "nosuch"}]}, environ={})
    (problem,) = check(cfg)
    assert problem.path == "meters[m1].driver" and "simulated" in problem.message


def test_driver_options_are_validated_by_the_driver() -> None:
    cfg = parse_config(
        {**MINIMAL, "meters": [{"id": "m1", "driver": "simulated", "seeed": 1, "beam_on_s": -1}]}, environ={}
    )
    paths = {p.path for p in check(cfg)}
    assert paths == {"meters[m1].seeed", "meters[m1].beam_on_s"}


def test_unknown_room_category_is_reported_on_the_channel() -> None:
    cfg = parse_config({**MINIMAL, "channels": [{"id": "c1", "meter": "m1", "room_category": 9}]}, environ={})
    (problem,) = check(cfg)
    assert problem.path.startswith("channels[c1]") and "9" in problem.message


def test_missing_file_and_bad_toml_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[site\nid = 1\n")
    with pytest.raises(ConfigError, match=r"bad.toml: invalid TOML: .*line 1"):
        load_config(bad)


def test_secret_comes_from_environment_before_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from radsurvey.config.secrets import resolve_secret

    f = tmp_path / "pw"
    f.write_text("from-file\n")
    assert resolve_secret(env="X_PW", file=f, what="password").get_secret_value() == "from-file"
    monkeypatch.setenv("X_PW", "from-env")
    secret = resolve_secret(env="X_PW", file=f, what="password")
    assert secret.get_secret_value() == "from-env" and "from-env" not in repr(secret)


def test_credentials_in_the_influxdb_url_are_refused_without_repeating_them() -> None:
    data = {**MINIMAL, "influxdb": {"url": "https://admin:hunter2-pw@tsdb.example:8086"}}
    message = problems_of(data)
    assert "influxdb.url: must not contain credentials" in message and "token_file" in message
    assert "hunter2-pw" not in message


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("mqtt", "ca_file"),
        ("mqtt", "password_file"),
        ("influxdb", "token_file"),
    ],
)
def test_a_missing_certificate_or_secret_file_is_a_config_error_naming_the_key(
    tmp_path: Path, section: str, key: str
) -> None:
    options = {key: str(tmp_path / "absent.pem")}
    if key == "ca_file":
        options["tls"] = True
    cfg = parse_config({**MINIMAL, section: options}, environ={})
    (problem,) = check(cfg)
    assert problem.path == f"{section}.{key}" and problem.message == f"file not found: {tmp_path / 'absent.pem'}"


def test_a_client_certificate_and_key_must_be_files(tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    mqtt = {"tls": True, "cert_file": str(tmp_path / "client.pem"), "key_file": str(tmp_path)}
    cfg = parse_config({**MINIMAL, "mqtt": mqtt}, environ={})
    assert [(p.path, p.message) for p in check(cfg)] == [("mqtt.key_file", f"not a regular file: {tmp_path}")]


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root reads any file")
def test_an_unreadable_token_file_is_a_config_error(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t\n")
    token.chmod(0)
    cfg = parse_config({**MINIMAL, "influxdb": {"token_file": str(token)}}, environ={})
    (problem,) = check(cfg)
    assert problem.path == "influxdb.token_file" and "Permission denied" in problem.message


def test_files_of_a_disabled_sink_are_not_checked(tmp_path: Path) -> None:
    cfg = parse_config({**MINIMAL, "influxdb": {"enabled": False, "token_file": str(tmp_path / "x")}}, environ={})
    assert check(cfg) == []


def test_a_journal_size_rule_needs_max_bytes_or_the_retention_limit() -> None:
    rule = {"kind": "equipment", "check": "journal_size"}
    data = {**MINIMAL, "channels": [{**MINIMAL["channels"][0], "alarms": [rule]}]}
    assert "channels[c1].alarms[0]: check 'journal_size' needs max_bytes (or [retention] max_size_mb)" in problems_of(
        data
    )
    cfg = parse_config({**data, "retention": {"max_size_mb": 500, "warn_fraction": 0.8}}, environ={})
    (applied,) = cfg.alarm_rules(cfg.channels[0])
    assert (applied.max_bytes, applied.warning_fraction) == (500_000_000, 0.8)  # type: ignore[union-attr]


def test_the_retention_size_limit_adds_a_journal_size_check_to_every_channel() -> None:
    data = {
        **MINIMAL,
        "meters": [{"id": "m1", "driver": "simulated"}, {"id": "m2", "driver": "simulated"}],
        "channels": [
            {"id": "c1", "meter": "m1", "room_category": 1},
            {"id": "c2", "meter": "m2", "room_category": 1, "alarms": [{"kind": "instant", "level_uSv_h": 5}]},
        ],
        "retention": {"max_size_mb": 100},
    }
    cfg = parse_config(data, environ={})
    assert [[r.name for r in cfg.alarm_rules(ch)] for ch in cfg.channels] == [
        ["journal_size"],
        ["instant", "journal_size"],
    ]
    assert cfg.channels[0].alarms == []  # the configured rules themselves are untouched
    without = parse_config({**data, "retention": {}}, environ={})
    assert [r.name for r in without.alarm_rules(without.channels[1])] == ["instant"]


def test_mqtt_acknowledgement_needs_keys_or_an_explicit_unsigned_policy_with_a_broker_account() -> None:
    # Issue 21 §1: unsigned acknowledgements only where the config says so explicitly.
    bare = {"alarms": {"mqtt_ack": {"enabled": True}}}
    assert "enabled = true needs keys_file (signed acknowledgements), or accept_unsigned = true" in problems_of(
        {**MINIMAL, **bare, "mqtt": {"username": "radsurvey"}}
    )
    enabled = {"alarms": {"mqtt_ack": {"enabled": True, "accept_unsigned": True}}}
    assert "alarms.mqtt_ack: unsigned acknowledgements (accept_unsigned) need a broker account" in problems_of(
        {**MINIMAL, **enabled}
    )
    parse_config({**MINIMAL, **enabled, "mqtt": {"username": "radsurvey"}}, environ={})
    own = {"alarms": {"mqtt_ack": {"enabled": True, "password_env": "ACK_PW"}}}
    assert "password_env/password_file go with username here" in problems_of({**MINIMAL, **own})


@pytest.mark.parametrize(
    ("driver", "options", "key"),
    [
        ("radpro", {"dead_time_s": -0.001}, "dead_time_s"),
        ("radpro", {"dead_time_s": 0.5}, "dead_time_s"),
        ("radpro", {"dead_time_s": "devices"}, "dead_time_s"),
        ("radpro", {"sensitivity_cpm_per_uSv_h": 0}, "sensitivity_cpm_per_uSv_h"),
        ("radpro", {"sensitivity_cpm_per_uSv_h": -153.8}, "sensitivity_cpm_per_uSv_h"),
        ("radpro", {"sensitivity_cpm_per_uSv_h": "auto"}, "sensitivity_cpm_per_uSv_h"),
        ("gmc", {"sensitivity_cpm_per_uSv_h": 0}, "sensitivity_cpm_per_uSv_h"),
        ("gmc", {"dead_time_s": -0.001}, "dead_time_s"),
        ("ascii", {"profile": "mightyohm", "dead_time_s": 1.0}, "dead_time_s"),
        ("modbus", {"host": "10.0.0.2", "address": 1, "scale": 0}, "scale"),
        ("scpi", {"resource": "ASRL1::INSTR", "scale": 0, "scaled_unit": "uGy/h"}, "scale"),
    ],
)
def test_out_of_range_numeric_driver_options_are_one_problem_each_with_key_path(
    driver: str, options: dict, key: str
) -> None:
    meter = {"id": "m1", "driver": driver, **({"port": "/dev/x"} if driver in ("radpro", "gmc", "ascii") else {})}
    cfg = parse_config({**MINIMAL, "meters": [{**meter, **options}]}, environ={})
    (problem,) = check(cfg)
    assert problem.path == f"meters[m1].{key}", problem


@pytest.mark.parametrize(
    ("meter", "key"),
    [
        ({"driver": "modbus", "host": "10.0.0.2", "address": 1, "unit": "furlongs"}, "unit"),
        ({"driver": "scpi", "resource": "ASRL1::INSTR", "unit": "furlongs"}, "unit"),
        ({"driver": "scpi", "resource": "ASRL1::INSTR", "scale": 2.0, "scaled_unit": "Gy"}, "scaled_unit"),
        ({"driver": "ascii", "port": "/dev/x", "pattern": "^(?P<value>[0-9]+)$", "unit": "furlongs"}, "unit"),
        ({"driver": "ascii", "port": "/dev/x", "profile": "mightyohm", "unit_map": {"uSv/hr": "uSv/hour"}}, "unit_map"),
    ],
)
def test_unknown_units_are_config_errors_listing_the_accepted_ones(meter: dict, key: str) -> None:
    cfg = parse_config({**MINIMAL, "meters": [{"id": "m1", **meter}]}, environ={})
    (problem,) = check(cfg)
    assert problem.path == f"meters[m1].{key}"
    assert "unknown unit" in problem.message and "accepted units: cpm, cps, " in problem.message


def test_an_unknown_driver_option_lists_the_valid_keys_and_the_nearest() -> None:
    cfg = parse_config(
        {**MINIMAL, "meters": [{"id": "m1", "driver": "radpro", "port": "/dev/x", "dead_time": 0}]}, environ={}
    )
    (problem,) = check(cfg)
    assert problem.path == "meters[m1].dead_time"
    assert problem.message.startswith("unknown key (did you mean 'dead_time_s'?); valid keys: ")
    valid = problem.message.partition("valid keys: ")[2].split(", ")
    assert {"id", "driver", "poll_interval_s", "connection", "port", "usb", "sensitivity_cpm_per_uSv_h"} <= set(valid)


def test_a_twa_window_longer_than_a_working_day_is_refused_naming_the_rule() -> None:
    # Issue 21 §3: DMD_E is a rate over the 30-hour week; a week-long mean dilutes it (10 -> 1.79 uSv/h).
    channel = {**MINIMAL["channels"][0], "alarms": [{"kind": "twa", "window_s": 8 * 3600 + 1}]}
    problems = problems_of({**MINIMAL, "channels": [channel]})
    assert "channels[c1].alarms[0].window_s" in problems or "window_s" in problems
    assert "28800" in problems and "occupancy" in problems
    parse_config({**MINIMAL, "channels": [{**channel, "alarms": [{"kind": "twa", "window_s": 8 * 3600}]}]}, environ={})
    tied = {"kind": "twa", "window_s": 7 * 86400, "occupancy": {"timezone": "UTC", "hours": ["mon-fri 08:00-14:00"]}}
    parse_config({**MINIMAL, "channels": [{**channel, "alarms": [tied]}]}, environ={})


def test_the_default_commit_interval_is_the_one_the_docs_and_the_pis_config_state() -> None:
    """10 s, chosen from docs/raspberry-pi.md's table (issue 24 §5); the docs and the Pi's config say the same."""
    default = parse_config(MINIMAL).journal.commit_interval_s
    assert default == 10.0
    assert "| `commit_interval_s` | `10.0` |" in (REPO / "docs" / "configuration.md").read_text()
    assert "\ncommit_interval_s = 10.0\n" in (REPO / "systemd" / "radsurvey.toml").read_text()
    assert "**10 (the default)**" in (REPO / "docs" / "raspberry-pi.md").read_text()
