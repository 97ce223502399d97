"""What the Modbus detection units are and what they are fit for (radsurvey.drivers.models).

The generic register map reads whatever probe is configured, so only the BDKG preset is
a model here. Atomtex publishes the figures per probe type on its data sheets; none was
at hand when this table was written, so they are "not known" (None) rather than guessed.
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel, without_published_figures

MODELS: tuple[InstrumentModel, ...] = (
    without_published_figures(
        "modbus",
        "Atomtex BDKG detection unit (preset bdkg)",
        ("Atomtex BDKG",),
        "detection unit of the MKS-AT1117M family (scintillator or GM by probe type)",
        DetectorKind.UNKNOWN,
        source="VibeEngineering-LLC/atomtex-esp32 components/bdkg05 (protocol); figures per probe: Atomtex data sheets",
    ),
)
