"""How the daemon's heap is kept small on glibc (a Raspberry Pi's Linux): fewer malloc arenas, freed pages returned.

glibc gives every thread that calls malloc an arena of its own, up to eight per
core, and keeps what a thread freed in that arena for the same thread later.
``radsurvey run`` has several such threads (the journal writer, the sinks'
readers, asyncio's and the console's executors), and its start-up (imports,
config validation, the journal's open, template compilation) frees megabytes
that glibc keeps rather than returns. :func:`limit_malloc_arenas` caps the arenas
before the first thread starts; :func:`release_freed_memory` (glibc's
``malloc_trim``) hands freed pages back, after start-up and then every hour
(:func:`trim_periodically`). benchmarks/README.md has the figures.

Elsewhere (musl, macOS, Windows) every function here does nothing; nothing here
can fail a run.

:func:`freeze_after_start` keeps the data path's tail short (``[runtime]``,
docs/configuration.md; benchmarks/README.md, "Latency at 200 meters"): the
objects of start-up, tens of thousands, are no longer walked by every full
garbage collection.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import os
from collections.abc import Callable, Mapping

# mallopt's parameter number for the arena cap (glibc's malloc.h, M_ARENA_MAX).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2  # the main arena and one for all the other threads
TRIM_AFTER_START_S = 30.0  # connections made, discovery published, the console listening
TRIM_EVERY_S = 3600.0
FREEZE_AFTER_START_S = 5.0  # meters open, sinks connected and replaying, on a working network


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL(None)  # the process's own symbols: the C library python runs on
    except (ValueError, OSError, AttributeError):  # not glibc: no such confstr name, or no libc to load
        return None


def limit_malloc_arenas(environ: Mapping[str, str] | None = None) -> bool:
    """Cap glibc's malloc arenas at :data:`MALLOC_ARENAS` unless the environment sets them; True if capped.

    Call it before any thread starts: an arena, once made, stays. ``MALLOC_ARENA_MAX``
    (or ``GLIBC_TUNABLES`` with ``glibc.malloc.arena_max``) in the environment wins.
    """
    env = os.environ if environ is None else environ
    if "MALLOC_ARENA_MAX" in env or "glibc.malloc.arena_max" in env.get("GLIBC_TUNABLES", ""):
        return False
    libc = _glibc()
    if libc is None:
        return False
    try:
        return bool(libc.mallopt(_M_ARENA_MAX, MALLOC_ARENAS))
    except AttributeError:
        return False


def release_freed_memory() -> None:
    """Return the heap's free pages to the system (glibc's ``malloc_trim(0)``); a few ms on the daemon's heap."""
    libc = _glibc()
    trim: Callable[[int], int] | None = getattr(libc, "malloc_trim", None) if libc is not None else None
    if trim is not None:
        trim(0)


async def trim_periodically(first_after_s: float = TRIM_AFTER_START_S, every_s: float = TRIM_EVERY_S) -> None:
    """Trim once start-up is over, then every ``every_s`` (after a backlog's replay, a day's export, ...)."""
    await asyncio.sleep(first_after_s)
    while True:
        release_freed_memory()
        await asyncio.sleep(every_s)


async def freeze_after_start(after_s: float = FREEZE_AFTER_START_S) -> None:
    """Once start-up is over, collect once and exempt what lives on from later collections (``gc.freeze``).

    A full collection walks every tracked object: with the start-up's (config
    models, templates, modules) that was 40-70 ms with the loop stopped, every
    10-15 s at 200 meters. Frozen objects are never collected: what start-up
    leaves as garbage is collected first, and objects made later are collected
    as ever.
    """
    await asyncio.sleep(after_s)
    gc.collect()
    gc.freeze()
