"""``[web]``: off unless present, one clear problem per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from radsurvey.config import parse_config
from radsurvey.daemon.configure import check
from radsurvey.protocols.errors import ConfigError

METERS = [{"id": "m", "driver": "simulated"}]


def test_the_console_is_off_unless_the_section_is_there() -> None:
    assert parse_config({"meters": METERS}, environ={}).web is None
    web = parse_config({"meters": METERS, "web": {}}, environ={}).web
    assert web is not None and web.listen == "127.0.0.1:8080" and web.view == "open" and not web.tls


@pytest.mark.parametrize(
    ("web", "field", "text"),
    [
        ({"listen": "8080"}, "web.listen", "host:port"),
        ({"listen": "example.org:80"}, "web.listen", "not an IP address"),
        ({"listen": "127.0.0.1:70000"}, "web.listen", "port"),
        ({"tls_cert_file": "/c.pem"}, "web", "go together"),
        ({"view": "closed"}, "web.view", "open"),
        ({"colour": "red"}, "web.colour", ""),
    ],
)
def test_bad_web_settings_name_their_key(web: dict, field: str, text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"meters": METERS, "web": web}, environ={})
    assert field in str(err.value) and text in str(err.value)


def test_config_check_loads_the_tls_pair_and_reads_the_accounts_file(tmp_path: Path) -> None:
    (tmp_path / "users").write_text("alice has no hash\n")
    cfg = parse_config(
        {
            "meters": METERS,
            "web": {
                "tls_cert_file": str(tmp_path / "none.pem"),
                "tls_key_file": str(tmp_path / "none.key"),
                "users_file": str(tmp_path / "users"),
            },
        },
        environ={},
    )
    problems = {p.path: p.message for p in check(cfg)}
    assert "cannot read" in problems["web.tls_cert_file"]
    assert "line 1" in problems["web.users_file"]
