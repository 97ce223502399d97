"""The signed acknowledgement format (daemon/alarms/signing.py, docs/alarms.md), checked against OpenSSL's HMAC."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radsurvey.daemon.alarms import signing
from radsurvey.protocols.errors import ConfigError

SECRET = b"0123456789abcdef-secret"
BODY = {"by": "dr. Asel", "rule": None, "comment": "дверь закрыта", "ts": 1772438400, "nonce": "n" * 16}


def test_the_canonical_text_is_the_documented_one() -> None:
    text = signing.canonical("t", "desk", BODY).decode("utf-8")
    assert text == (
        '{"by":"dr. Asel","channel":"desk","comment":"дверь закрыта","nonce":"nnnnnnnnnnnnnnnn",'
        '"rule":null,"site":"t","ts":1772438400}'
    )


def test_the_signature_is_hmac_sha256_as_openssl_computes_it(tmp_path: Path) -> None:
    data = tmp_path / "canonical"
    data.write_bytes(signing.canonical("t", "desk", BODY))
    out = subprocess.run(
        ["openssl", "dgst", "-sha256", "-hmac", SECRET.decode(), "-r", str(data)], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.skip(f"openssl dgst -hmac not available: {out.stderr.strip()}")
    assert signing.signature(SECRET, "t", "desk", BODY) == out.stdout.split()[0]


def store(tmp_path: Path) -> signing.NonceStore:
    return signing.NonceStore(tmp_path / "nonces", 300)


def test_verify_accepts_once_then_refuses_the_replay_and_remembers_it_across_restarts(tmp_path: Path) -> None:
    body = signing.sign(SECRET, site="t", channel="desk", by="dr. Asel", ts=1000, nonce="a" * 20)
    keys = {"dr. Asel": SECRET}
    nonces = store(tmp_path)
    assert signing.verify(body, keys=keys, site="t", channel="desk", now=1010, nonces=nonces) is None
    assert signing.verify(body, keys=keys, site="t", channel="desk", now=1011, nonces=nonces) == (
        "replayed: this nonce was already used"
    )
    again = store(tmp_path)
    again.load(1020)
    assert signing.verify(body, keys=keys, site="t", channel="desk", now=1020, nonces=again) == (
        "replayed: this nonce was already used"
    )
    # Outside the window a nonce is forgotten, and the message is stale anyway.
    late = store(tmp_path)
    late.load(2000)
    assert late.seen == {}
    assert signing.verify(body, keys=keys, site="t", channel="desk", now=2000, nonces=late) == (
        "stale: signed 1000 s ago, outside ±300 s of our clock"
    )


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"ts": "1000"}, "'ts' must be integer POSIX seconds"),
        ({"ts": True}, "'ts' must be integer POSIX seconds"),
        ({"nonce": "short"}, "'nonce' must be 16-64 characters"),
        ({"sig": "ABC"}, "'sig' must be 64 lower-case hex digits"),
        ({"by": "someone else"}, "no signing key for 'someone else'"),
        ({"rule": "instant"}, "bad signature for 'dr. Asel'"),
    ],
)
def test_verify_names_what_is_wrong(tmp_path: Path, change: dict, reason: str) -> None:
    body = {**signing.sign(SECRET, site="t", channel="desk", by="dr. Asel", ts=1000), **change}
    why = signing.verify(body, keys={"dr. Asel": SECRET}, site="t", channel="desk", now=1000, nonces=store(tmp_path))
    assert why is not None and why.startswith(reason)


@settings(max_examples=300, deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from(["by", "rule", "comment", "ts", "nonce", "sig", "x"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=80), st.floats(allow_nan=True)),
    )
)
def test_no_forged_message_is_ever_accepted(tmp_path_factory: pytest.TempPathFactory, body: dict) -> None:
    nonces = signing.NonceStore(None, 300)
    why = signing.verify(body, keys={"dr. Asel": SECRET}, site="t", channel="desk", now=1000, nonces=nonces)
    assert why is not None and nonces.seen == {}
    assert SECRET.decode() not in why


@pytest.mark.parametrize(
    ("text", "mode", "message"),
    [
        ("dr. Asel:0123456789abcdef\n", 0o640, "readable by others (mode 0640)"),
        ("no separator here\n", 0o600, "line 1: expected 'user:secret'"),
        ("# c\nme:short\n", 0o600, "line 2: the secret of 'me' is shorter than 16"),
        ("me:0123456789abcdef\nme:0123456789abcdeg\n", 0o600, "line 2: 'me' appears twice"),
        ("# nothing\n\n", 0o600, "holds no 'user:secret' line"),
    ],
)
def test_bad_keys_files_are_config_errors_that_never_quote_a_secret(
    tmp_path: Path, text: str, mode: int, message: str
) -> None:
    path = tmp_path / "keys"
    path.write_text(text)
    path.chmod(mode)
    with pytest.raises(ConfigError) as err:
        signing.load_keys(path)
    assert message in str(err.value) and "0123456789abcde" not in str(err.value)


def test_config_check_reports_a_bad_keys_file_with_its_key_path(tmp_path: Path) -> None:
    from radsurvey.daemon.configure import check_file

    keys = tmp_path / "keys"
    keys.write_text("me:0123456789abcdef\n")
    keys.chmod(0o644)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        f'[[meters]]\nid = "m"\ndriver = "simulated"\n[alarms.mqtt_ack]\nenabled = true\nkeys_file = "{keys}"\n'
    )
    _, problems = check_file(cfg)
    assert [(p.path, "chmod 600" in p.message) for p in problems] == [("alarms.mqtt_ack.keys_file", True)]
    assert json.dumps([str(p) for p in problems]).count("0123456789abcdef") == 0


@settings(max_examples=300, deadline=None)
@given(
    payload=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(st.text(max_size=8), st.text(max_size=20)).map(lambda d: json.dumps(d).encode()),
    )
)
def test_the_listener_never_raises_and_never_acknowledges_an_unsigned_or_garbage_message(payload: bytes) -> None:
    from radsurvey.config.alarms import MqttAckConfig
    from radsurvey.daemon.alarms.mqtt_ack import MqttAckService
    from radsurvey.daemon.alarms.service import AlarmService
    from tests.alarm_support import make_config

    cfg = make_config(Path("/nonexistent"), [{"kind": "instant", "level_uSv_h": 50, "latching": True}])
    alarms = AlarmService(cfg)
    ack = MqttAckService(MqttAckConfig(enabled=True, accept_unsigned=True), site="t", alarms=alarms)
    ack.keys = {"dr. Asel": SECRET}  # as if keys_file held this user (the file format is tested above)
    ok, reason = ack.handle("radsurvey/t/channels/desk/alarm/ack", payload)
    assert not ok and reason
    assert alarms.current()[0]["acknowledged"] is False
