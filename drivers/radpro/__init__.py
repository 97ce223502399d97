"""Rad Pro firmware Geiger counters. See README.md here."""

from .driver import SPEC, RadProDriver, RadProOptions

__all__ = ["SPEC", "RadProDriver", "RadProOptions"]
