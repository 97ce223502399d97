"""Secrets (MQTT password, InfluxDB token) come from the environment or a file.

They are never read from the main config and never logged: callers get a
:class:`pydantic.SecretStr`.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from radsurvey.protocols.errors import ConfigError


def resolve_secret(*, env: str | None, file: Path | None, what: str) -> SecretStr | None:
    """The secret from ``$env`` if set, else the first line of ``file``, else None."""
    if env and os.environ.get(env):
        return SecretStr(os.environ[env])
    if file is not None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"cannot read {what} file: {err.strerror}", source=str(file)) from None
        value = text.splitlines()[0].strip() if text.strip() else ""
        if not value:
            raise ConfigError(f"{what} file is empty", source=str(file))
        return SecretStr(value)
    return None
