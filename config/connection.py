"""How the daemon keeps one meter connected: backoff, error streaks, stale detection.

Lives in its own ``[meters.connection]`` table so that it never mixes with the
driver's own options (the other keys of a meter entry).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ConnectionConfig(BaseModel):
    """Reconnect and watchdog settings of one meter (all optional)."""

    model_config = ConfigDict(extra="forbid")

    backoff_initial_s: float = Field(1.0, gt=0, le=3600, description="first delay before reopening a lost meter")
    backoff_max_s: float = Field(60.0, gt=0, le=86_400, description="the delay doubles up to this cap")
    connect_timeout_s: float = Field(10.0, gt=0, le=600, description="open + identify must finish within this")
    read_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="backstop for one read; drivers time out earlier on their own"
    )
    max_timeouts: int = Field(
        3, ge=1, le=1000, description="this many timeouts in one streak of bad replies: disconnect and reopen"
    )
    max_garbage: int = Field(
        5, ge=1, le=1000, description="this many garbled replies in one streak of bad replies: disconnect and reopen"
    )
    stale_after_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="no fresh reading for this long: 'stale' (default 10 x poll interval, >= 10 s)",
    )
    frozen_after_s: float | None = Field(
        None,
        gt=0,
        le=86_400,
        description="the meter's value unchanged for this long while it should count: 'stale' (default: the driver's)",
    )

    @model_validator(mode="after")
    def _cap_above_initial(self) -> ConnectionConfig:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self
