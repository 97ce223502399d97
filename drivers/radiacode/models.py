"""What the RadiaCode models are and what they are fit for (radsurvey.drivers.models).

Scintillation counters (CsI(Tl); GAGG in the 103G) with a silicon photomultiplier.
The figures a regulation needs (energy range, dose-rate range, behaviour in pulsed
fields) were not in the sources read, so they are "not known" (None): a survey with
a RadiaCode still has to record them from the meter's certificate.
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

_SOURCE = "maker's model pages via scan-electronics.com (RC-101) and qreenworks.com (102/103/103G/110)"


def _scint(model: str, prefixes: tuple[str, ...], detector: str) -> InstrumentModel:
    return without_published_figures("radiacode", model, prefixes, detector, DetectorKind.SCINTILLATOR, source=_SOURCE)


MODELS: tuple[InstrumentModel, ...] = (
    _scint("RadiaCode-101", ("RadiaCode-101", "RC-101"), "CsI(Tl) scintillator, SiPM"),
    _scint("RadiaCode-102", ("RadiaCode-102", "RC-102"), "CsI(Tl) scintillator, SiPM"),
    _scint("RadiaCode-103G", ("RadiaCode-103G", "RC-103G"), "GAGG scintillator, SiPM"),
    _scint("RadiaCode-103", ("RadiaCode-103", "RC-103"), "CsI(Tl) scintillator, SiPM"),
    _scint("RadiaCode-110", ("RadiaCode-110", "RC-110"), "CsI(Tl) scintillator, SiPM"),
)
