"""Signed alarm acknowledgements: HMAC-SHA256 with a per-user secret, a timestamp and a nonce.

An MQTT broker does not tell a subscriber who published a message, so an
acknowledgement proves its author itself. The signer (``radsurvey alarms ack
--mqtt``, or any client) adds three keys to the JSON object it publishes:

* ``ts``: the time of signing, integer POSIX seconds (UTC);
* ``nonce``: 16-64 characters of ``[A-Za-z0-9_-]``, never used twice;
* ``sig``: lower-case hex HMAC-SHA256 of the canonical text, keyed with the
  secret of the user named in ``by``.

The canonical text is the JSON object of ``site``, ``channel`` (both from the
topic), ``by``, ``rule`` (null for every rule), ``comment``, ``ts`` and
``nonce``, keys sorted, no spaces (separators ``,`` and ``:``), non-ASCII kept
as UTF-8. Binding the site and channel means a signature cannot be replayed on
another topic.

The keys file (``[alarms.mqtt_ack] keys_file``) holds one ``user:secret`` line
per person; blank lines and lines starting with ``#`` are ignored; the user is
everything before the first ``:`` (spaces inside are kept, around are not), the
secret the rest (at least 16 characters). The file must not be readable by
group or others (mode 0600 or 0400): a key anyone on the machine can read
proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from radsurvey.protocols.errors import ConfigError

MIN_SECRET = 16
NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
SIGNED_KEYS = ("ts", "nonce", "sig")


def load_keys(path: Path, *, what: str = "alarms.mqtt_ack.keys_file") -> dict[str, bytes]:
    """user -> secret from a keys file; ConfigError naming the file and line for anything wrong."""
    try:
        st = path.stat()
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{what}: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{what}: cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{what}: not a regular file: {path}")
    if st.st_mode & 0o077:
        raise ConfigError(f"{what}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it")
    keys: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        user, sep, secret = line.partition(":")
        user, secret = user.strip(), secret.strip()
        # Never quote the line: it holds a secret.
        if not sep or not user:
            raise ConfigError(f"{what}: {path} line {number}: expected 'user:secret'")
        if len(secret) < MIN_SECRET:
            raise ConfigError(f"{what}: {path} line {number}: the secret of {user!r} is shorter than {MIN_SECRET}")
        if user in keys:
            raise ConfigError(f"{what}: {path} line {number}: {user!r} appears twice")
        keys[user] = secret.encode("utf-8")
    if not keys:
        raise ConfigError(f"{what}: {path} holds no 'user:secret' line")
    return keys


def canonical(site: str, channel: str, body: dict[str, Any]) -> bytes:
    """The bytes that are signed (see the module docstring)."""
    fields = {
        "site": site,
        "channel": channel,
        "by": body.get("by"),
        "rule": body.get("rule"),
        "comment": body.get("comment", ""),
        "ts": body.get("ts"),
        "nonce": body.get("nonce"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: bytes, site: str, channel: str, body: dict[str, Any]) -> str:
    return hmac.new(secret, canonical(site, channel, body), hashlib.sha256).hexdigest()


def sign(
    secret: bytes,
    *,
    site: str,
    channel: str,
    by: str,
    rule: str | None = None,
    comment: str = "",
    ts: int,
    nonce: str | None = None,
) -> dict[str, Any]:
    """The JSON object to publish on ``{prefix}/{site}/channels/{channel}/alarm/ack``."""
    body: dict[str, Any] = {
        "by": by,
        "rule": rule,
        "comment": comment,
        "ts": ts,
        "nonce": nonce or secrets.token_hex(16),
    }
    body["sig"] = signature(secret, site, channel, body)
    return body


class NonceStore:
    """Nonces seen within the time window, kept in memory and appended to a file.

    Each line of the file is ``<ts> <nonce>``. On start the lines still inside
    the window are read back (and the file rewritten with only those), so a
    restart does not reopen the window for a captured acknowledgement.
    """

    def __init__(self, path: Path | None, window_s: float):
        self.path = path
        self.window_s = window_s
        self.seen: dict[str, int] = {}

    def load(self, now: float) -> None:
        if self.path is None or not self.path.exists():
            return
        kept: dict[str, int] = {}
        for line in self.path.read_text("utf-8", errors="replace").splitlines():
            ts_text, _, nonce = line.partition(" ")
            try:
                ts = int(ts_text)
            except ValueError:
                continue
            if NONCE.match(nonce) and abs(now - ts) <= self.window_s:
                kept[nonce] = ts
        self.seen = kept
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(f"{ts} {n}\n" for n, ts in kept.items()), "utf-8")
        os.replace(tmp, self.path)

    def forget_old(self, now: float) -> None:
        self.seen = {n: ts for n, ts in self.seen.items() if abs(now - ts) <= self.window_s}

    def add(self, nonce: str, ts: int) -> None:
        """Remember ``nonce``; OSError when it cannot be made durable (the caller refuses the ack)."""
        if self.path is not None:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, f"{ts} {nonce}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        self.seen[nonce] = ts


def verify(
    body: dict[str, Any],
    *,
    keys: dict[str, bytes],
    site: str,
    channel: str,
    now: float,
    nonces: NonceStore,
) -> str | None:
    """Why a signed acknowledgement is refused, or None if it is valid (its nonce is then recorded).

    The reasons name the user and the check that failed, never a secret or the signature.
    """
    ts, nonce, sig, by = body.get("ts"), body.get("nonce"), body.get("sig"), body.get("by")
    if isinstance(ts, bool) or not isinstance(ts, int):
        return "'ts' must be integer POSIX seconds"
    if not isinstance(nonce, str) or not NONCE.match(nonce):
        return "'nonce' must be 16-64 characters of letters, digits, '_', '-'"
    if not isinstance(sig, str) or not re.fullmatch(r"[0-9a-f]{64}", sig):
        return "'sig' must be 64 lower-case hex digits (HMAC-SHA256)"
    secret = keys.get(by) if isinstance(by, str) else None
    if secret is None:
        return f"no signing key for {by!r}"
    if not hmac.compare_digest(signature(secret, site, channel, body), sig):
        return f"bad signature for {by!r}"
    if abs(now - ts) > nonces.window_s:
        when = f"{now - ts:.0f} s ago" if now >= ts else f"{ts - now:.0f} s in the future"
        return f"stale: signed {when}, outside ±{nonces.window_s:g} s of our clock"
    nonces.forget_old(now)
    if nonce in nonces.seen:
        return "replayed: this nonce was already used"
    try:
        nonces.add(nonce, ts)
    except OSError as err:
        return f"cannot record the nonce ({err.strerror}); refused so that it cannot be replayed"
    return None
