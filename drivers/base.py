"""What a meter said (:class:`Reading`) and what every driver provides (:class:`Driver`).

A driver does not know about channels, backgrounds or limits: it turns bytes from
one meter into Readings, records the raw frame and every unit conversion it
applied, and says who the meter is.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar


class Quantity(enum.StrEnum):
    """The physical quantity a reading's value is in."""

    AIR_KERMA_RATE = "air_kerma_rate"  # uGy/h (absorbed dose rate in air, D of the regulation)
    AMBIENT_DOSE_EQUIVALENT_RATE = "ambient_dose_equivalent_rate"  # uSv/h, H*(10)
    COUNT_RATE = "count_rate"  # cpm
    CURRENT = "current"  # A, e.g. an ion chamber on an electrometer


class Status(enum.StrEnum):
    """Condition flags a meter reports alongside a value."""

    OVER_RANGE = "over_range"
    UNDER_RANGE = "under_range"
    FAULT = "fault"
    LOW_BATTERY = "low_battery"
    STALE = "stale"
    WARMING_UP = "warming_up"  # just reset: the meter's own average is still filling (under-reads)


@dataclass(frozen=True, slots=True)
class Conversion:
    """One step applied to get from the meter's number to the reading's value."""

    name: str  # e.g. "cpm_to_uSv_h", "dead_time", "unit", "calibration"
    factor: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.factor is not None:
            out["factor"] = self.factor
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True, slots=True)
class Reading:
    """One value from one meter, as it came, with its audit trail."""

    meter: str
    ts: datetime  # UTC, host clock at reception
    value: float
    unit: str  # "uGy/h", "uSv/h", "cpm", "A"
    quantity: Quantity
    status: frozenset[Status] = frozenset()
    raw: bytes = b""
    conversions: tuple[Conversion, ...] = ()
    meter_value: float | None = None  # the number before conversions, e.g. the CPM

    def as_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "ts": iso_utc(self.ts),
            "value": self.value,
            "unit": self.unit,
            "quantity": self.quantity.value,
            "status": sorted(s.value for s in self.status),
            "raw": self.raw.hex(),
            "conversions": [c.as_dict() for c in self.conversions],
            "meter_value": self.meter_value,
        }


@dataclass(frozen=True, slots=True)
class MeterIdentity:
    """Who answered: model, firmware and serial as the meter reports them."""

    model: str = ""
    firmware: str = ""
    serial: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, "firmware": self.firmware, "serial": self.serial, **self.extra}


class Capability(enum.StrEnum):
    DOSE_RATE = "dose_rate"
    COUNT_RATE = "count_rate"
    STREAMING = "streaming"
    BATTERY = "battery"
    CLOCK = "clock"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_utc(ts: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix and millisecond precision."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Driver(abc.ABC):
    """An open connection to one meter. Use as ``async with driver: ...``.

    Subclasses implement :meth:`open`, :meth:`close`, :meth:`read` and
    :meth:`identify`; the runner (:mod:`radsurvey.drivers.runner`) paces the reads.
    A driver that talks through a byte link is given its transport (a
    :class:`~radsurvey.drivers.transport.Connector`) and never builds one.
    """

    name: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.DOSE_RATE})
    # True when read() waits for the meter's own next frame (streaming meters):
    # the caller then does not pace reads at poll_interval_s.
    self_paced: ClassVar[bool] = False
    # A counting meter whose value does not change for this long is stuck
    # (frozen firmware, dead tube): the runner reports it 'stale'. None: never.
    frozen_after_s_default: ClassVar[float | None] = None

    def __init__(self, *, meter_id: str, poll_interval_s: float = 1.0):
        self.meter_id = meter_id
        self.poll_interval_s = poll_interval_s
        self.identity = MeterIdentity()

    async def __aenter__(self) -> Driver:
        await self.open()
        try:
            self.identity = await self.identify()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Open the transport; raise MeterError when the meter is not there."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release the transport. Must be safe to call twice."""

    @abc.abstractmethod
    async def identify(self) -> MeterIdentity:
        """Ask the meter who it is (read-only)."""

    @abc.abstractmethod
    async def read(self) -> Reading:
        """Return one fresh reading; raise MeterError/FrameError on failure."""
