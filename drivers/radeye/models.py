"""What the Thermo RadEye models are and what they are fit for (radsurvey.drivers.models).

The G-10 figures are Thermo's RadEye G brochure as quoted by a review of the meter
(promieniowanie.blogspot.com, December 2023). The PRD family's figures were not in the
sources read ("not known", None).
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

MODELS: tuple[InstrumentModel, ...] = (
    without_published_figures(
        "radeye",
        "Thermo RadEye PRD / PRD-ER",
        ("RadEye PRD", "PRD"),
        "NaI(Tl) scintillator",
        DetectorKind.SCINTILLATOR,
        source="RadEye PRD operating instructions DB-057-050322 (model names)",
    ),
    InstrumentModel(
        driver="radeye",
        model="Thermo RadEye G-10",
        identity_prefixes=("RadEye G10", "RadEye G-10", "G10", "G-10"),
        detector="energy-compensated GM tube (Centronic ZP 1202)",
        detector_kind=DetectorKind.ENERGY_COMPENSATED_GM,
        energy_min_keV=50.0,
        energy_max_keV=1500.0,
        dose_rate_uSv_h_min=0.5,
        dose_rate_uSv_h_max=100_000.0,
        pulsed_field_ok=None,
        source="Thermo RadEye G brochure, as quoted by promieniowanie.blogspot.com (2023-12)",
    ),
)
