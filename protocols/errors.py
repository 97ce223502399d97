"""The radsurvey exception tree.

It lives in ``protocols`` because that is the bottom layer: every other layer may
import it. Each error carries its context as attributes and renders as one line
that a user can act on (``str(err)``); ``--verbose`` shows the traceback.
"""

from __future__ import annotations


class RadsurveyError(Exception):
    """Base of every error radsurvey raises on purpose."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.message = message
        self.source = source
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = ": ".join(part for part in (self.source, self.field) if part)
        return f"{where}: {self.message}" if where else self.message


class SurveyError(RadsurveyError):
    """A survey document or a survey evaluation input is invalid.

    ``source`` is the file, ``field`` the path inside it (``points[R1].readings_uGy_h.80``).
    """


class ProfileError(RadsurveyError):
    """A protocol profile is unknown or its data is inconsistent."""


class ShieldingError(RadsurveyError):
    """A shielding calculation's input is invalid or beyond the regulation's tables; ``field`` names it."""


class ConfigError(RadsurveyError):
    """The daemon configuration is invalid; ``field`` is the key path."""


class MeterError(RadsurveyError):
    """A meter could not be reached or did not behave (timeout, unplugged, refused)."""

    def __init__(self, message: str, *, meter: str | None = None, **kwargs: str | None):
        self.meter = meter
        super().__init__(message, source=kwargs.get("source") or meter, field=kwargs.get("field"))


class FrameError(MeterError):
    """Bytes from a meter do not form a valid reply (wrong length, garbage, ERROR)."""

    def __init__(self, message: str, *, raw: bytes = b"", meter: str | None = None):
        self.raw = raw
        super().__init__(message, meter=meter)


class JournalError(RadsurveyError):
    """The journal database cannot be opened, migrated or written."""


class SinkError(RadsurveyError):
    """A sink (MQTT, InfluxDB) failed; the journal keeps the data for replay.

    ``daemon.sinks.base.DeliveryError`` (retried after a backoff) and the InfluxDB
    answers that are not retried (refused points, a wrong write API) derive from it.
    """
