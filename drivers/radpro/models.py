"""What the meters Rad Pro runs on are and what they are fit for (radsurvey.drivers.models).

Every Rad Pro device counts with an uncompensated GM tube; its makers publish no energy
range a regulation could use (None), hence unfit for pulsed X-ray surveys (App. 14 p.32).
The identity's model is Rad Pro's hardware name (``GET deviceId``).
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

_SOURCE = "Rad Pro 3.1.1 README and docs/comm.md (devices, hardware ids)"


def _gm(model: str, prefixes: tuple[str, ...], detector: str) -> InstrumentModel:
    return without_published_figures("radpro", model, prefixes, detector, DetectorKind.GM_TUBE, source=_SOURCE)


MODELS: tuple[InstrumentModel, ...] = (
    _gm("FS2011 / YT-203B (Rad Pro)", ("FS2011", "YT-203B"), "GM tube J305"),
    _gm("Bosean FS-600 / FS-1000 (Rad Pro)", ("Bosean FS-600", "Bosean FS-1000", "FS-600", "FS-1000"), "GM tube"),
    _gm("Bosean FS-5000 (Rad Pro)", ("Bosean FS-5000", "FS-5000"), "GM tube"),
    _gm("FNIRSI GC-01 / GC-03 (Rad Pro)", ("FNIRSI GC-0", "GC-0"), "GM tube"),
    _gm("GQ GMC-800 (Rad Pro)", ("GQ GMC-800",), "GM tube"),
)
