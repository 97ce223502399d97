"""What the SCPI electrometers measure (radsurvey.drivers.models).

An electrometer reads the current of whatever ion chamber is attached; the chamber,
not the electrometer, decides energy range and pulsed-field behaviour, so the figures
are not known here (None): record the chamber in the survey.
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

MODELS: tuple[InstrumentModel, ...] = (
    without_published_figures(
        "scpi",
        "Keithley 6514 / 6517B electrometer with an ion chamber",
        ("KEITHLEY",),
        "ion chamber on an electrometer (chamber chosen by the user)",
        DetectorKind.ION_CHAMBER,
        source="Keithley 6514/6517B reference manuals (*IDN? answer)",
    ),
)
