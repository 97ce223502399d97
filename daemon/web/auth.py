"""Accounts, sessions, CSRF tokens and login rate limits of the web console.

* Accounts live in a text file, one ``name:scrypt$n$r$p$salt$hash`` line each
  (salt and hash in URL-safe base64), written 0600 by ``radsurvey web user add``.
  scrypt (RFC 7914, ``hashlib.scrypt``) is memory-hard: n=2**14, r=8 costs 16 MiB
  per guess.
* Sessions are random tokens held in memory (a restart logs everybody out); each
  carries its own CSRF token, which every state-changing request must echo.
* Failed logins are counted per client address and per account name in a sliding
  window; past the limit the login answers 429 without checking the password.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from radsurvey.protocols.errors import ConfigError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=_MAXMEM,
            dklen=len(_unb64(digest)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(digest))


@functools.cache
def _dummy() -> str:
    """Checked when the name is unknown, so that a wrong name costs the same time as a wrong password.

    Made at the first such login, not at import: each scrypt run briefly takes 16 MiB.
    """
    return hash_password("no such user", salt=b"radsurvey-dummy!")


def check_username(name: str) -> str:
    if not USERNAME.match(name):
        raise ConfigError(
            f"user name {name!r}: 1-64 letters, digits, '_', '.', '@', '-', starting with a letter or digit",
            field="name",
        )
    return name


class UsersFile:
    """The accounts file: read on every login (so ``web user add`` needs no restart)."""

    def __init__(self, path: Path):
        self.path = path

    def load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise ConfigError(f"cannot read the web users file: {err.strerror}", source=str(self.path)) from None
        users: dict[str, str] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, encoded = line.partition(":")
            if not sep or not USERNAME.match(name) or not encoded.startswith("scrypt$"):
                raise ConfigError(f"line {lineno} is not 'name:scrypt$...'", source=str(self.path))
            users[name] = encoded
        return users

    def save(self, users: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fp:
            fp.write("# radsurvey web console accounts: name:scrypt$n$r$p$salt$hash (radsurvey web user add NAME)\n")
            for name in sorted(users):
                fp.write(f"{name}:{users[name]}\n")
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, self.path)

    def set_password(self, name: str, password: str) -> bool:
        """Add or replace an account; True when it is new."""
        check_username(name)
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"password too short (at least {MIN_PASSWORD} characters)", field="password")
        users = self.load()
        new = name not in users
        users[name] = hash_password(password)
        self.save(users)
        return new

    def remove(self, name: str) -> bool:
        users = self.load()
        if users.pop(name, None) is None:
            return False
        self.save(users)
        return True

    def authenticate(self, name: str, password: str) -> bool:
        encoded = self.load().get(name)
        ok = verify_password(password, encoded or _dummy())
        return ok and encoded is not None


@dataclass
class Session:
    user: str
    csrf: str
    last_seen: float


@dataclass
class Sessions:
    idle_s: float
    clock: Callable[[], float] = time.monotonic
    _by_token: dict[str, Session] = field(default_factory=dict)

    def create(self, user: str) -> tuple[str, Session]:
        self._expire()
        token = secrets.token_urlsafe(32)
        session = Session(user=user, csrf=secrets.token_urlsafe(32), last_seen=self.clock())
        self._by_token[token] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        session = self._by_token.get(token)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > self.idle_s:
            del self._by_token[token]
            return None
        session.last_seen = now
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._by_token.pop(token, None)

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._by_token.items() if now - s.last_seen > self.idle_s]:
            del self._by_token[token]


@dataclass
class LoginLimiter:
    """At most ``attempts`` failures per key (address, account name) within ``window_s``."""

    attempts: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def retry_after_s(self, *keys: str) -> float:
        """0 when a login may be tried now, else the seconds until it may."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            q = self._failures.get(key)
            if not q:
                continue
            while q and now - q[0] >= self.window_s:
                q.popleft()
            if len(q) >= self.attempts:
                wait = max(wait, self.window_s - (now - q[0]))
            if not q:
                del self._failures[key]
        return wait

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        if len(self._failures) > 10_000:  # bounded memory under a flood of names/addresses
            oldest = sorted(self._failures, key=lambda k: self._failures[k][-1])[:5_000]
            for key in oldest:
                del self._failures[key]

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)
