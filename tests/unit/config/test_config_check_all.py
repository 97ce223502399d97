"""``config check`` reports every problem of a file in one pass, each with its full key path (issue 12 §5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsurvey.daemon.cli import hoist_global_flags
from radsurvey.daemon.configure import check_file, load_checked
from radsurvey.protocols.errors import ConfigError

BAD = """
[site]
id = "a b"
[journal]
commit_interval_s = -1
[[meters]]
id = "m1"
driver = "simulated"
bogus_option = 3
[[meters]]
id = "m2"
driver = "nope"
[[channels]]
id = "c"
meter = "m1"
room_category = 99
[[channels]]
id = "d"
meter = "zz"
room_category = "x"
[mqtt]
tls = true
ca_file = "/nonexistent/ca.pem"
"""


def test_every_problem_in_one_pass_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    cfg, problems = check_file(path)
    assert cfg is None
    assert [p.path for p in problems] == [
        "site.id",
        "journal.commit_interval_s",
        "channels[d].room_category",
        "meters[m1].bogus_option",
        "meters[m2].driver",
        "channels[c].room_category",
        "channels[d].meter",
        "mqtt.ca_file",
    ]
    by_path = {p.path: p.message for p in problems}
    assert by_path["channels[c].room_category"] == "unknown room category 99; known: 1, 2, 3, 4, 5, 6, 7"
    assert by_path["channels[d].meter"] == "no meter with id 'zz'"
    assert by_path["mqtt.ca_file"] == "file not found: /nonexistent/ca.pem"
    with pytest.raises(ConfigError) as err:
        load_checked(path)
    assert str(err.value).startswith(f"{path}: 8 problems\n  site.id: ")


def test_a_valid_schema_with_semantic_problems_lists_them_all_too(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text(
        '[[meters]]\nid = "m"\ndriver = "simulated"\nnope = 1\n'
        '[[channels]]\nid = "a"\nmeter = "m"\nroom_category = 8\n'
        '[[channels]]\nid = "b"\nmeter = "x"\nroom_category = 1\n'
    )
    _, problems = check_file(path)
    assert [p.path for p in problems] == ["channels[b].meter", "meters[m].nope", "channels[a].room_category"]


@pytest.mark.parametrize("text", ["", "# nothing but a comment\n", '[site]\nid = "x"\n'])
def test_a_config_without_meters_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.toml"
    path.write_text(text)
    _, problems = check_file(path)
    assert [(p.path, p.message.split(":")[0]) for p in problems] == [("meters", "no meters")]


def test_global_flags_are_taken_after_the_subcommand_too() -> None:
    assert hoist_global_flags(["run", "--config", "c.toml", "--log-json"]) == [
        "--log-json",
        "run",
        "--config",
        "c.toml",
    ]
    assert hoist_global_flags(["--log-json", "status", "--verbose"]) == ["--log-json", "--verbose", "status"]
    # after "--" everything is an argument
    assert hoist_global_flags(["evaluate", "--", "--log-json"]) == ["evaluate", "--", "--log-json"]
