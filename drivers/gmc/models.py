"""What the GQ GMC models are and what they are fit for (the typed table: radsurvey.drivers.models).

GQ publishes no energy or dose-rate range a regulation could use; the figures are
therefore "not known" (None). Every model counts with an uncompensated GM tube,
which is what makes it unfit for pulsed X-ray surveys (App. 14 p.32).
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

_SOURCE = "GQ-RFC1201/RFC1801 (model names); GQ support forum (tubes)"


def _gm(model: str, prefixes: tuple[str, ...], detector: str) -> InstrumentModel:
    return without_published_figures("gmc", model, prefixes, detector, DetectorKind.GM_TUBE, source=_SOURCE)


MODELS: tuple[InstrumentModel, ...] = (
    _gm("GQ GMC-280/300/300E+/300S", ("GMC-280", "GMC-300"), "GM tube M4011"),
    _gm("GQ GMC-320/320+/320S/320+V5", ("GMC-320",), "GM tube M4011"),
    _gm("GQ GMC-SE", ("GMC-SE",), "GM tube"),
    _gm("GQ GMC-500/500+", ("GMC-500",), "two GM tubes (M4011 and SI-3BG for high rates)"),
    _gm("GQ GMC-510+", ("GMC-510",), "GM tube M4011"),
    _gm("GQ GMC-600/600+", ("GMC-600",), "GM tube (pancake)"),
    _gm("GQ GMC-800", ("GMC-800",), "GM tube"),
)
