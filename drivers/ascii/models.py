"""What the text-line meters are and what they are fit for (radsurvey.drivers.models).

The identity's model is the profile name. Both meters count with an uncompensated GM
tube, unfit for pulsed X-ray surveys (App. 14 p.32).
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

MODELS: tuple[InstrumentModel, ...] = (
    without_published_figures(
        "ascii",
        "MightyOhm Geiger Counter kit",
        ("mightyohm",),
        "GM tube SBM-20",
        DetectorKind.GM_TUBE,
        source="MightyOhm firmware 1.00 sendreport() (SBM-20 factor 0.0057)",
    ),
    without_published_figures(
        "ascii",
        "NetIO GC10 / GC10next",
        ("netio-gc10",),
        "GM tube",
        DetectorKind.GM_TUBE,
        source="ESPGeiger docs/hardware/serial.md",
    ),
)
