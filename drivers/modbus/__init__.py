"""Modbus RTU/TCP monitors. See README.md here."""

from .driver import SPEC, ModbusDriver, ModbusOptions

__all__ = ["SPEC", "ModbusDriver", "ModbusOptions"]
