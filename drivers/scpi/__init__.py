"""SCPI instruments over VISA. See README.md here."""

from .driver import SPEC, ScpiDriver, ScpiOptions

__all__ = ["SPEC", "ScpiDriver", "ScpiOptions"]
