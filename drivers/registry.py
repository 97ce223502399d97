"""Driver registry: name -> module that defines it.

Driver modules are imported only when a meter uses them, so that the CLI starts
fast and a driver with a missing optional library does not break the others.
Each driver package exposes ``SPEC`` (a :class:`DriverSpec`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from radsurvey.protocols.errors import ConfigError

from .base import Driver
from .builtin import BUILTIN  # name -> module path; a separate module so the CLI can list names cheaply


@dataclass(frozen=True)
class DriverSpec:
    """How to build one driver: its options model and its factory."""

    name: str
    summary: str
    options_model: type[BaseModel]
    factory: Callable[..., Driver]  # factory(meter_id=..., poll_interval_s=..., options=model)
    emulator: str | None = None  # "module:callable" of the device emulator, if any
    # Discovery (``radsurvey meters scan``): USB ids ("1a86:7523") that suggest this
    # family, and an identify-only probe ``async probe(port, baudrate, timeout_s)``
    # returning a MeterIdentity or None, tried at each of ``baudrates``.
    usb_ids: tuple[str, ...] = ()
    baudrates: tuple[int, ...] = ()
    probe: Callable[..., Any] | None = None
    # The probe speaks text lines. Such probes go first: a line parser would read the
    # bytes a binary probe left behind as the start of its next line, while a framed
    # binary protocol (GMC's "<...>>") skips text it does not know.
    line_probe: bool = False
    # The transport the driver is given (transport.Connector) from its options; None for
    # drivers that speak through a library of their own (pymodbus, pyvisa) or none.
    connector: Callable[[Any], Any] | None = None


def names() -> list[str]:
    return sorted(BUILTIN)


def get(name: str) -> DriverSpec:
    """Load the driver called ``name``; ConfigError naming the known ones otherwise."""
    try:
        module_path = BUILTIN[name]
    except KeyError:
        raise ConfigError(f"unknown driver {name!r}; known drivers: {', '.join(names())}", field="driver") from None
    spec: DriverSpec = importlib.import_module(module_path).SPEC
    return spec


def emulator_factory(name: str) -> Callable[..., Any]:
    """The device emulator of driver ``name``; ConfigError when it has none."""
    spec = get(name)
    if not spec.emulator:
        raise ConfigError(f"driver {name!r} has no emulator", field="driver")
    module_path, _, attr = spec.emulator.partition(":")
    factory: Callable[..., Any] = getattr(importlib.import_module(module_path), attr)
    return factory


def connector(name: str, options: dict[str, Any]) -> Any:
    """The transport connector ``options`` name for driver ``name`` (None: the driver has no link).

    The runner makes it once per meter and gives it to every driver it opens, so what a
    connector learns (e.g. the line speed a meter answered at) outlives one connection.
    """
    spec = get(name)
    if spec.connector is None:
        return None
    return spec.connector(spec.options_model.model_validate(options))


def create(
    name: str, *, meter_id: str, poll_interval_s: float, options: dict[str, Any], connector: Any = None
) -> Driver:
    """Validate ``options`` against the driver's model and build the driver, giving it its transport.

    ``connector``: the transport to give (tests give a recording one); default: the one the options name.
    """
    spec = get(name)
    model = spec.options_model.model_validate(options)
    if spec.connector is None:
        return spec.factory(meter_id=meter_id, poll_interval_s=poll_interval_s, options=model)
    given = connector if connector is not None else spec.connector(model)
    return spec.factory(meter_id=meter_id, poll_interval_s=poll_interval_s, options=model, connector=given)
