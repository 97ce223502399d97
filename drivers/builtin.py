"""The built-in drivers: name -> the module that defines it.

Kept apart from :mod:`registry` so that the CLI can name the drivers in its help
without importing pydantic or any driver. Add a line here when adding a driver folder.
"""

from __future__ import annotations

BUILTIN: dict[str, str] = {
    "simulated": "radsurvey.drivers.simulated",
    "gmc": "radsurvey.drivers.gmc",
    "radpro": "radsurvey.drivers.radpro",
    "ascii": "radsurvey.drivers.ascii",
    "modbus": "radsurvey.drivers.modbus",
    "scpi": "radsurvey.drivers.scpi",
    "radiacode": "radsurvey.drivers.radiacode",
    "radeye": "radsurvey.drivers.radeye",
}
