"""Thermo RadEye survey meters and dosimeters through the IR-USB adapter. See README.md here."""

from .driver import SPEC, RadEyeDriver, RadEyeOptions

__all__ = ["SPEC", "RadEyeDriver", "RadEyeOptions"]
