"""Is the system clock synchronised? (A Raspberry Pi has no RTC: until NTP answers, time is wrong.)

First the kernel's own answer, the ``adjtimex(2)`` status with modes 0 (read
only): the clock is synchronised when the call does not return ``TIME_ERROR``
and ``STA_UNSYNC`` is clear. This is what ``timedatectl`` shows as "System
clock synchronized", and it works with systemd-timesyncd, chrony and ntpd.
If the call is not allowed (a seccomp filter), the flag file
``/run/systemd/timesync/synchronized`` that systemd-timesyncd touches on its
first synchronisation is used. None means "cannot tell".
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from pathlib import Path

TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
_TIME_ERROR = 5
_STA_UNSYNC = 0x0040


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>: 20 longs/ints in the order of the header,
    # then padding the kernel reserves (11 ints); sized generously.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 16),
    )


def adjtimex_synchronised() -> bool | None:
    """The kernel's NTP status; None when adjtimex cannot be called."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    tx = _Timex()
    tx.modes = 0
    ret = libc.adjtimex(ctypes.byref(tx))
    if ret == -1:
        return None
    return ret != _TIME_ERROR and not (tx.status & _STA_UNSYNC)


def synchronised() -> bool | None:
    found = adjtimex_synchronised()
    if found is not None:
        return found
    if TIMESYNCD_FLAG.exists():
        return True
    if os.path.isdir("/run/systemd/timesync"):
        return False  # timesyncd runs but has not synchronised yet
    return None
