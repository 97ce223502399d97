"""The two ways a meter fails that the runner treats differently from garbage.

* :class:`MeterTimeout`: the meter did not answer in time (counts towards a
  timeout streak; one silent reply is not yet a disconnect).
* :class:`MeterGone`: the port is not there or vanished (unplugged,
  re-enumerated): disconnect at once.

Garbage is :class:`~radsurvey.protocols.errors.FrameError`.
"""

from __future__ import annotations

from radsurvey.protocols.errors import FrameError, MeterError


class MeterTimeout(MeterError):
    """No (complete) reply within the timeout."""


class MeterGone(MeterError):
    """The port does not exist or the device disappeared under it."""


__all__ = ["FrameError", "MeterError", "MeterGone", "MeterTimeout"]
