"""RadiaCode 101/102/103/110 scintillation dosimeters. See README.md here."""

from .driver import SPEC, RadiaCodeDriver, RadiaCodeOptions

__all__ = ["SPEC", "RadiaCodeDriver", "RadiaCodeOptions"]
