"""The ``[web]`` section: the console the daemon serves itself (docs/web.md).

Absent from the file means off. Present means on (``enabled = false`` turns it off
again without deleting the section).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class WebConfig(BaseModel):
    """The web console: live overview, trends, alarms (ack after login), kiosk, surveys."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    listen: str = Field("127.0.0.1:8080", description="host:port to listen on; 0.0.0.0:8080 for the whole LAN")
    tls_cert_file: Path | None = Field(None, description="PEM certificate; with tls_key_file the console is HTTPS")
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file")
    view: Literal["open", "login"] = Field(
        "open", description="'open': anyone who reaches the port sees the pages; 'login': every page needs a login"
    )
    users_file: Path = Field(
        Path("radsurvey-web-users"),
        description="accounts (radsurvey web user add NAME); relative: under $STATE_DIRECTORY, else the working dir",
    )
    session_idle_s: float = Field(8 * 3600.0, ge=60, le=30 * 86400, description="a session ends after this idle time")
    login_attempts: int = Field(
        5, ge=1, le=100, description="failed logins per (address, account name) per window; then a lockout"
    )
    login_attempts_per_address: int | None = Field(
        None, ge=1, le=1000, description="failed logins per address per window, any names; default 4 x login_attempts"
    )
    login_window_s: float = Field(
        300.0, ge=1, le=86400, description="window of the login limits, and the first lockout (each next one doubles)"
    )
    reports: Literal["login", "open"] = Field(
        "login",
        description="who may download survey reports: 'login' (default, even with view = 'open') or 'open' (anyone)",
    )
    stale_after_s: float | None = Field(
        None,
        gt=0,
        le=86400,
        description="a channel without a sample this long is shown stale; default 3 poll intervals, at least 5 s",
    )
    language: Literal["en", "ru", "kk", "fa", "ro"] = Field("en", description="default language (a visitor may switch)")

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:8080 (port 0-65535; 0 picks a free port)")
        host = host.strip("[]")
        if host and host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError:
                raise ValueError(f"host {host!r} is not an IP address (or localhost)") from None
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> WebConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together (both or neither)")
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "0.0.0.0"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def tls(self) -> bool:
        return self.tls_cert_file is not None

    def resolved_users_file(self, state_directory: str | None = None) -> Path:
        if self.users_file.is_absolute() or not state_directory:
            return self.users_file
        return Path(state_directory) / self.users_file
