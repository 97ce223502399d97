"""Config sections of the publishing side: ``[mqtt]``, ``[influxdb]``, ``[retention]``.

Secrets are never keys here: the MQTT password and the InfluxDB token come from
an environment variable or a file (``config/secrets.py``), named by
``password_env``/``password_file`` and ``token_env``/``token_file``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from .secrets import resolve_secret

_TOPIC_LEVELS = re.compile(r"^[^+#\s]+$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttConfig(_Section):
    """The MQTT sink (docs/architecture.md#mqtt); present in the file means enabled."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    prefix: str = Field("radsurvey", description="topic root is {prefix}/{site}")
    client_id: str | None = Field(None, description="default radsurvey-{site}")
    keepalive_s: int = Field(30, ge=5, le=3600)
    username: str | None = None
    password_env: str = Field("RADSURVEY_MQTT_PASSWORD", description="environment variable holding the password")
    password_file: Path | None = Field(None, description="file whose first line is the password")
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    connect_timeout_s: float = Field(10.0, gt=0, le=300)
    reconnect_initial_s: float = Field(1.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    batch_size: int = Field(500, ge=1, le=50_000, description="rows read from the journal per page")
    max_inflight: int = Field(
        100, ge=1, le=65_535, description="QoS 1 publishes awaiting their PUBACK at once (<= broker's receive maximum)"
    )
    publish_readings: bool = True
    publish_samples: bool = True
    status_interval_s: float = Field(5.0, gt=0, le=3600, description="how often {root}/status/sinks is refreshed")
    homeassistant: bool = Field(False, description="publish Home Assistant discovery for every channel")
    discovery_prefix: str = "homeassistant"
    expire_after_s: int | None = Field(
        None,
        ge=1,
        le=86_400,
        description="Home Assistant marks a sensor unavailable after this; default 120 s or 3 poll intervals",
    )

    @field_validator("prefix", "discovery_prefix")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC_LEVELS.match(value) or value.startswith("/") or value.endswith("/"):
            raise ValueError("must be topic levels without '+', '#', spaces or leading/trailing '/'")
        return value

    @model_validator(mode="after")
    def _tls_files(self) -> MqttConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (client certificate)")
        if (self.ca_file or self.cert_file) and not self.tls:
            raise ValueError("ca_file/cert_file need tls = true")
        return self

    def password(self) -> SecretStr | None:
        return resolve_secret(env=self.password_env, file=self.password_file, what="MQTT password")


class InfluxConfig(_Section):
    """The InfluxDB sink (docs/architecture.md#influxdb).

    ``api = "v2"`` (default): the v2 write API (InfluxDB 2.x/3.x, 1.8+ in
    compatibility mode, VictoriaMetrics), with org, bucket and a token.
    ``api = "v1"``: the 1.x ``/write`` API (InfluxDB 1.0-1.7 as Debian and
    Raspberry Pi OS ship it), with database, retention policy and an optional
    username whose password comes from the environment or a file.
    """

    enabled: bool = True
    api: Literal["v1", "v2"] = Field("v2", description="write API: v2 (default) or v1 (InfluxDB 1.x /write)")
    url: str = "http://127.0.0.1:8086"
    org: str = Field("", description="InfluxDB 2.x organisation (empty for 1.8 compat / VictoriaMetrics)")
    bucket: str = Field("radsurvey", description="bucket; 'database/retention_policy' for InfluxDB 1.8")
    token_env: str = Field("RADSURVEY_INFLUXDB_TOKEN", description="environment variable holding the token")
    token_file: Path | None = Field(None, description="file whose first line is the token ('user:password' for 1.8)")
    database: str | None = Field(None, min_length=1, description="api v1: the database written to (must exist)")
    retention_policy: str | None = Field(None, min_length=1, description="api v1: default: the database's default")
    username: str | None = Field(None, min_length=1, description="api v1: user (HTTP basic auth); none: no auth")
    password_env: str = Field("RADSURVEY_INFLUXDB_PASSWORD", description="api v1: environment variable, password")
    password_file: Path | None = Field(None, description="api v1: file whose first line is the password")
    batch_size: int = Field(5000, ge=1, le=100_000, description="points per write request")
    flush_interval_s: float = Field(1.0, gt=0, le=600, description="longest a point waits for a fuller batch")
    gzip: bool = True
    timeout_s: float = Field(10.0, gt=0, le=300)
    retry_initial_s: float = Field(1.0, gt=0, le=60)
    retry_max_s: float = Field(30.0, gt=0, le=3600)
    verify_ssl: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        # Credentials in the URL would be shown wherever the URL is (errors, status, logs).
        if "@" in urlsplit(value).netloc:
            raise ValueError(
                "must not contain credentials (user:password@); put the token in token_env or token_file"
                " ('user:password' for InfluxDB 1.8)"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _settings_of_the_api(self) -> InfluxConfig:
        given = self.model_fields_set
        if self.api == "v1":
            if self.database is None:
                raise ValueError('api = "v1" needs database (the InfluxDB 1.x database to write to)')
            wrong = sorted(given & {"org", "bucket", "token_env", "token_file"})
            if wrong:
                raise ValueError(
                    f'{", ".join(wrong)}: v2 settings; with api = "v1" use database, retention_policy,'
                    " username and password_env/password_file"
                )
            if "password_file" in given and self.username is None:
                raise ValueError("password_file goes with username (InfluxDB 1.x basic auth)")
        else:
            wrong = sorted(given & {"database", "retention_policy", "username", "password_env", "password_file"})
            if wrong:
                raise ValueError(
                    f'{", ".join(wrong)}: settings of api = "v1" (InfluxDB 1.x /write); set api = "v1",'
                    " or use bucket ('database/retention_policy' for 1.8) and a token"
                )
        return self

    def token(self) -> SecretStr | None:
        return resolve_secret(env=self.token_env, file=self.token_file, what="InfluxDB token")

    def password(self) -> SecretStr | None:
        """The v1 password (None without username: InfluxDB 1.x without authentication)."""
        if self.username is None:
            return None
        return resolve_secret(env=self.password_env, file=self.password_file, what="InfluxDB password")


class RetentionConfig(_Section):
    """What the journal may forget: only rows every enabled sink acknowledged, and only old ones.

    Tiers (docs/sinks.md, "Retention"): raw readings and samples for ``raw_days``,
    minute aggregates for ``minute_days``, hour aggregates for ``hour_days``
    (unset: for good); the yearly dose record of each channel is never deleted.
    """

    raw_days: float | None = Field(
        30.0, gt=0, description="delete acknowledged raw readings and samples older than this; unset keeps them all"
    )
    minute_days: float | None = Field(
        400.0, gt=0, description="delete minute aggregates older than this; unset keeps them all"
    )
    hour_days: float | None = Field(
        None, gt=0, description="delete hour aggregates older than this; unset (default) keeps them"
    )
    max_age_days: float | None = Field(
        None,
        gt=0,
        description="delete acknowledged meter events (and alarm events / survey points where not kept) older than"
        " this, and raw rows too when shorter than raw_days; unset keeps them",
    )
    keep_surveys: bool = Field(True, description="never delete survey records")
    keep_alarms: bool = Field(True, description="never delete alarm events")
    max_size_mb: float | None = Field(
        None,
        gt=0,
        description="journal size that raises the journal_size fault on every channel (data is never dropped for it)",
    )
    warn_fraction: float = Field(
        0.9, gt=0, le=1, description="journal_size warning when the size reaches this fraction of max_size_mb"
    )
    interval_s: float = Field(60.0, gt=0, le=86_400, description="how often retention runs")
