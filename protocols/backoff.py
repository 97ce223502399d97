"""The one retry delay: ``initial_s``, doubling after each failure, capped at ``max_s``.

Used by every loop that reconnects: a meter's runner (drivers/runner.py), the
MQTT and InfluxDB sinks and the MQTT acknowledgement listener
(daemon/mqtt_session.py, ``reconnect_loop``). Pure state, no clock: the caller
sleeps. It sits in ``protocols`` because that is the bottom layer every other
layer may import, as ``protocols/errors.py`` does.
"""

from __future__ import annotations


class Backoff:
    """Delays of a retry loop: :meth:`take` the next one after a failure, :meth:`reset` after a success."""

    def __init__(self, initial_s: float, max_s: float):
        self.initial_s = initial_s
        self.max_s = max(max_s, initial_s)
        self.next_s = initial_s

    def take(self) -> float:
        """The delay to wait now; the next one doubles, up to ``max_s``."""
        delay = self.next_s
        self.next_s = min(self.next_s * 2, self.max_s)
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits ``initial_s`` again."""
        self.next_s = self.initial_s
