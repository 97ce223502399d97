"""What the SCPI electrometers measure (radsurvey.drivers.models).

An electrometer reads the current of whatever ion chamber is attached; the chamber,
not the electrometer, decides energy range and pulsed-field behaviour, so the figures
are not known here (None): record the chamber in the survey.
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel

MODELS: tuple[InstrumentModel, ...] = (
    InstrumentModel(
        driver="scpi",
        model="Keithley 6514 / 6517B electrometer with an ion chamber",
        identity_prefixes=("KEITHLEY",),
        detector="ion chamber on an electrometer (chamber chosen by the user)",
        detector_kind=DetectorKind.ION_CHAMBER,
        energy_min_keV=None,
        energy_max_keV=None,
        dose_rate_uSv_h_min=None,
        dose_rate_uSv_h_max=None,
        pulsed_field_ok=None,
        source="Keithley 6514/6517B reference manuals (*IDN? answer)",
    ),
)
