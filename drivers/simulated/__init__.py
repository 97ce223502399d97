"""The simulated meter: deterministic, seedable, no hardware. See README.md here."""

from .driver import SPEC, SimulatedDriver, SimulatedOptions

__all__ = ["SPEC", "SimulatedDriver", "SimulatedOptions"]
