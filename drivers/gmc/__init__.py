"""GQ GMC Geiger counters (GQ-RFC1201 / GQ-RFC1801). See README.md here."""

from .driver import SPEC, GmcDriver, GmcOptions

__all__ = ["SPEC", "GmcDriver", "GmcOptions"]
