"""Hand memory the console freed back to the system (glibc's ``malloc_trim``).

Importing aiohttp and compiling a page's Jinja template leave megabytes of
freed, fragmented heap that glibc keeps for later instead of returning it; the
console trims once it listens and after it compiles a template (a page in a
language for the first time). Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        trim: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
        return trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
