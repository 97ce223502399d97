"""What the Modbus detection units are and what they are fit for (radsurvey.drivers.models).

The generic register map reads whatever probe is configured, so only the BDKG preset is
a model here. Atomtex publishes the figures per probe type on its data sheets; none was
at hand when this table was written, so they are "not known" (None) rather than guessed.
"""

from __future__ import annotations

from ..models import DetectorKind, InstrumentModel

MODELS: tuple[InstrumentModel, ...] = (
    InstrumentModel(
        driver="modbus",
        model="Atomtex BDKG detection unit (preset bdkg)",
        identity_prefixes=("Atomtex BDKG",),
        detector="detection unit of the MKS-AT1117M family (scintillator or GM by probe type)",
        detector_kind=DetectorKind.UNKNOWN,
        energy_min_keV=None,
        energy_max_keV=None,
        dose_rate_uSv_h_min=None,
        dose_rate_uSv_h_max=None,
        pulsed_field_ok=None,
        source="VibeEngineering-LLC/atomtex-esp32 components/bdkg05 (protocol); figures per probe: Atomtex data sheets",
    ),
)
