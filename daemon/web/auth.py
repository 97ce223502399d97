"""Accounts, sessions, CSRF tokens and login rate limits of the web console.

* Accounts live in a text file, one ``name:scrypt$n$r$p$salt$hash`` line each
  (salt and hash in URL-safe base64), written 0600 by ``radsurvey web user add``.
  scrypt (RFC 7914, ``hashlib.scrypt``) is memory-hard: n=2**14, r=8 costs 16 MiB
  per guess.
* Sessions are random tokens held in memory (a restart logs everybody out); each
  carries its own CSRF token, which every state-changing request must echo.
* Failed logins are counted per (client address, account name) and per client
  address, before the password is hashed; past a limit the login answers 429
  (a page in the visitor's language for the form) without checking the password,
  for a lockout that doubles each time (:class:`LoginLimiter`).
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
        return self.check(name, password) is not None

    def check(self, name: str, password: str) -> str | None:
        """The account's stored hash when ``password`` is right (a session remembers it), else None."""
        encoded = self.load().get(name)
        ok = verify_password(password, encoded or _dummy())
        return encoded if ok and encoded is not None else None

    def stamp(self) -> tuple[int, int, int] | None:
        """Changes whenever the file is rewritten (``web user add/remove`` replaces it)."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)


@dataclass
class Session:
    user: str
    csrf: str
    last_seen: float
    credential: str = ""  # the account's hash at login: a new password (or a removed account) ends the session
    flash: str = ""  # the result of this session's latest form acknowledgement, shown once on /alarms


@dataclass
class Sessions:
    idle_s: float
    clock: Callable[[], float] = time.monotonic
    _by_token: dict[str, Session] = field(default_factory=dict)

    def create(self, user: str, credential: str = "") -> tuple[str, Session]:
        self._expire()
        token = secrets.token_urlsafe(32)
        session = Session(user=user, csrf=secrets.token_urlsafe(32), last_seen=self.clock(), credential=credential)
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

    def end_changed(self, accounts: dict[str, str]) -> list[str]:
        """End every session whose account is gone or has another password now; their users."""
        gone = [t for t, s in self._by_token.items() if accounts.get(s.user) != s.credential]
        return [self._by_token.pop(t).user for t in gone]

    def _expire(self) -> None:
        now = self.clock()
        for token in [t for t, s in self._by_token.items() if now - s.last_seen > self.idle_s]:
            del self._by_token[token]


@dataclass
class _Count:
    """Failed (or still unchecked) logins of one key, and its lockout."""

    failures: deque[float] = field(default_factory=deque)
    strikes: int = 0  # lockouts so far: each one lasts twice the previous
    locked_until: float = 0.0
    locked_by: float | None = None  # the attempt that started the lockout
    last: float = 0.0


@dataclass(frozen=True)
class Attempt:
    """One login being checked: counted before its password is hashed."""

    keys: tuple[str, ...]
    t: float


@dataclass
class LoginLimiter:
    """Failed logins per (address, account) and per address, counted *before* the password is hashed.

    An attempt counts as a failure the moment it begins (:meth:`begin`, on the event loop, so parallel
    attempts cannot all pass one check); a correct password takes its own count back (:meth:`succeeded`).
    ``attempts`` failures of one (address, account) within ``window_s``, or ``address_attempts`` of one
    address, lock that key for ``window_s``; each further lockout of the key lasts twice as long (at most
    ``max_lockout_s``). Nothing is counted per account alone: another host guessing the nurse's password
    cannot lock the nurse out. A key with no failure for ``max_lockout_s`` starts over.
    """

    attempts: int
    window_s: float
    address_attempts: int | None = None  # default 4 x attempts
    max_lockout_s: float = 86400.0
    clock: Callable[[], float] = time.monotonic
    _counts: dict[str, _Count] = field(default_factory=dict)

    def _limit(self, key: str) -> int:
        if key.startswith("addr:"):
            return self.address_attempts or 4 * self.attempts
        return self.attempts

    @staticmethod
    def keys_for(address: str, name: str) -> tuple[str, str]:
        return (f"pair:{address}\n{name}", f"addr:{address}")

    def retry_after_s(self, *keys: str) -> float:
        """0 when a login may be tried now, else the seconds until it may."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            count = self._counts.get(key)
            if count is not None:
                wait = max(wait, count.locked_until - now)
        return wait

    def begin(self, address: str, name: str) -> tuple[float, Attempt | None]:
        """(0, the attempt, already counted as a failure) or (seconds to wait, None) when locked out."""
        keys = self.keys_for(address, name)
        wait = self.retry_after_s(*keys)
        if wait > 0:
            return wait, None
        now = self.clock()
        for key in keys:
            count = self._counts.setdefault(key, _Count())
            if now - count.last >= self.max_lockout_s:
                count.strikes = 0
            count.last = now
            while count.failures and now - count.failures[0] >= self.window_s:
                count.failures.popleft()
            count.failures.append(now)
            if len(count.failures) >= self._limit(key):
                count.strikes += 1
                count.locked_until = now + min(self.window_s * 2 ** (count.strikes - 1), self.max_lockout_s)
                count.locked_by = now
                count.failures.clear()
        if len(self._counts) > 10_000:  # bounded memory under a flood of names/addresses
            unlocked = [k for k, c in self._counts.items() if c.locked_until <= now]
            for key in sorted(unlocked, key=lambda k: self._counts[k].last)[:5_000]:
                del self._counts[key]
        return 0.0, Attempt(keys, now)

    def cancel(self, attempt: Attempt) -> None:
        """The attempt was never checked (the server was busy): take its count back."""
        for key in attempt.keys:
            count = self._counts.get(key)
            if count is None:
                continue
            if attempt.t in count.failures:
                count.failures.remove(attempt.t)
            if count.locked_by == attempt.t:
                count.strikes -= 1
                count.locked_until, count.locked_by = 0.0, None

    def succeeded(self, attempt: Attempt) -> None:
        """A correct password: the (address, account) starts over, the address forgets this attempt."""
        pair, *others = attempt.keys
        self._counts.pop(pair, None)
        self.cancel(Attempt(tuple(others), attempt.t))
