"""Text-line meters read by regex profiles. See README.md here and docs/drivers.md."""

from .driver import SPEC, AsciiDriver, AsciiOptions

__all__ = ["SPEC", "AsciiDriver", "AsciiOptions"]
