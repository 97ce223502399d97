"""What the text-line meters are and what they are fit for (radsurvey.drivers.models).

The identity's model is the profile name. Both meters count with an uncompensated GM
tube, unfit for pulsed X-ray surveys (App. 14 p.32).
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel

MODELS: tuple[InstrumentModel, ...] = (
    InstrumentModel(
        driver="ascii",
        model="MightyOhm Geiger Counter kit",
        identity_prefixes=("mightyohm",),
        detector="GM tube SBM-20",
        detector_kind=DetectorKind.GM_TUBE,
        energy_min_keV=None,
        energy_max_keV=None,
        dose_rate_uSv_h_min=None,
        dose_rate_uSv_h_max=None,
        pulsed_field_ok=False,
        source="MightyOhm firmware 1.00 sendreport() (SBM-20 factor 0.0057)",
    ),
    InstrumentModel(
        driver="ascii",
        model="NetIO GC10 / GC10next",
        identity_prefixes=("netio-gc10",),
        detector="GM tube",
        detector_kind=DetectorKind.GM_TUBE,
        energy_min_keV=None,
        energy_max_keV=None,
        dose_rate_uSv_h_min=None,
        dose_rate_uSv_h_max=None,
        pulsed_field_ok=False,
        source="ESPGeiger docs/hardware/serial.md",
    ),
)
