"""Web console accounts, sessions and login limits (daemon/web/auth.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from radsurvey.daemon.web.auth import LoginLimiter, Sessions, UsersFile, hash_password, verify_password
from radsurvey.protocols.errors import ConfigError


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_password_verifies_against_its_scrypt_hash_and_nothing_else() -> None:
    encoded = hash_password("correct horse")
    assert encoded.startswith("scrypt$16384$8$1$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert not verify_password("correct horse", "scrypt$garbage")
    assert hash_password("correct horse") != encoded  # a fresh salt each time


def test_the_users_file_is_private_and_holds_no_password(tmp_path: Path) -> None:
    users = UsersFile(tmp_path / "users")
    assert users.set_password("alice", "correct horse")
    assert not users.set_password("alice", "another horse")  # replaced, not added
    text = (tmp_path / "users").read_text()
    assert "horse" not in text and text.count("alice:scrypt$") == 1
    assert stat.S_IMODE((tmp_path / "users").stat().st_mode) == 0o600
    assert users.authenticate("alice", "another horse")
    assert not users.authenticate("alice", "correct horse")
    assert not users.authenticate("bob", "another horse")
    assert users.remove("alice") and not users.remove("alice")


@pytest.mark.parametrize("name", ["", "a b", "a:b", "-x", "x" * 65])
def test_bad_account_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="user name"):
        UsersFile(tmp_path / "users").set_password(name, "long enough")


def test_short_passwords_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 8"):
        UsersFile(tmp_path / "users").set_password("alice", "short")


def test_a_damaged_users_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "users").write_text("# accounts\nalice:scrypt$1$2$3$a$b\nbob plain\n")
    with pytest.raises(ConfigError, match="line 3"):
        UsersFile(tmp_path / "users").load()


def test_a_session_ends_after_its_idle_time_and_each_has_its_own_csrf_token() -> None:
    clock = Clock()
    sessions = Sessions(idle_s=60, clock=clock)
    token, first = sessions.create("alice")
    _, second = sessions.create("alice")
    assert first.csrf != second.csrf
    clock.t += 59
    assert sessions.get(token) is first  # use keeps it alive
    clock.t += 59
    assert sessions.get(token) is first
    clock.t += 61
    assert sessions.get(token) is None
    assert sessions.get("forged") is None and sessions.get(None) is None


def test_logins_are_counted_before_checking_per_address_and_account_with_backoff() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=3, window_s=300, address_attempts=5, clock=clock)
    # Begun attempts count at once (before any hashing): the 4th is refused with nothing yet checked.
    begun = [limiter.begin("10.0.0.9", "nurse") for _ in range(4)]
    assert [wait for wait, _ in begun] == [0, 0, 0, pytest.approx(300)]
    assert begun[3][1] is None
    # Another address, or another account from the same address, is not locked by it...
    wait, nurse = limiter.begin("10.0.0.7", "nurse")
    assert wait == 0 and nurse is not None
    limiter.succeeded(nurse)
    assert limiter.begin("10.0.0.9", "other")[0] == 0
    # ... but the address as a whole is limited too (5 here): a 6th name from it waits.
    assert limiter.begin("10.0.0.9", "third")[0] == 0
    assert limiter.begin("10.0.0.9", "fourth")[0] == pytest.approx(300)
    # Each further lockout of a key doubles.
    clock.t += 300
    for _ in range(3):
        assert limiter.begin("10.0.0.9", "nurse")[0] == 0
    assert limiter.begin("10.0.0.9", "nurse")[0] == pytest.approx(600)


def test_a_correct_password_takes_its_count_back_and_a_cancelled_attempt_never_counted() -> None:
    clock = Clock()
    limiter = LoginLimiter(attempts=2, window_s=300, clock=clock)
    _, first = limiter.begin("10.0.0.1", "alice")
    assert first is not None
    limiter.succeeded(first)
    _, busy = limiter.begin("10.0.0.1", "alice")
    assert busy is not None
    limiter.cancel(busy)  # 503: the server never checked it
    for _ in range(2):
        wait, attempt = limiter.begin("10.0.0.1", "alice")
        assert wait == 0 and attempt is not None
    assert limiter.begin("10.0.0.1", "alice")[0] == pytest.approx(300)
