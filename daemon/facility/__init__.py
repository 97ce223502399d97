"""The facility's radiation-protection record: register, filed surveys, holds, incidents, inspections, doses.

``model`` (validated records and the facility TOML file), ``store`` (the SQLite
file and its append-only history), ``record`` (register, surveys, holds, what is
due, inspections), ``incidents``, ``dosimetry``, ``views`` (register, facility
file, exports). docs/facility.md is the HPO's guide.
"""
