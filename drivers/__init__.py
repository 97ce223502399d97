"""Meter drivers: one folder per meter family (codec, async driver, emulator, README).

The contract every driver fulfils is in :mod:`radsurvey.drivers.base`; the
name -> driver table is :mod:`radsurvey.drivers.registry`.
"""
