"""Shipped ASCII meter profiles (TOML files); see docs/drivers.md for how to write one."""
