"""glibc's malloc is told to keep fewer arenas and to hand freed pages back (daemon/memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from radsurvey.daemon import memory

GLIBC = "CS_GNU_LIBC_VERSION" in getattr(os, "confstr_names", {}) and bool(os.confstr("CS_GNU_LIBC_VERSION"))
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")


def test_an_arena_cap_in_the_environment_is_left_as_the_user_set_it() -> None:
    assert memory.limit_malloc_arenas({"MALLOC_ARENA_MAX": "4"}) is False
    assert memory.limit_malloc_arenas({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}) is False


@needs_glibc
def test_on_glibc_the_arenas_are_capped() -> None:
    assert memory.limit_malloc_arenas({}) is True


@needs_glibc
def test_freed_heap_goes_back_to_the_system() -> None:
    # 40 MB of 4 KiB blocks (glibc's heap, not Python's small-object arenas), all freed but the last, which
    # keeps the heap's top in place: free() alone keeps the pages, malloc_trim returns them.
    probe = (
        "import gc\n"
        "from radsurvey.daemon.memory import release_freed_memory\n"
        "def rss_kb():\n"
        "    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"
        "blocks = [bytes(4096) for _ in range(10_000)]\n"
        "last = blocks[-1]\n"
        "del blocks\n"
        "gc.collect()\n"
        "before = rss_kb()\n"
        "release_freed_memory()\n"
        "print(before - rss_kb())\n"
    )
    env = {**os.environ, "MALLOC_ARENA_MAX": "1"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 20_000  # kB: most of the 40 MB


def test_after_start_up_the_garbage_is_collected_and_what_lives_on_is_frozen() -> None:
    # In a process of its own: a frozen object stays frozen for the rest of the process.
    probe = (
        "import asyncio, gc, weakref\n"
        "from radsurvey.daemon.memory import freeze_after_start\n"
        "class Node:\n"
        "    pass\n"
        "def cycle():\n"
        "    a, b = Node(), Node()\n"
        "    a.other, b.other = b, a\n"
        "    return weakref.ref(a)\n"
        "gc.disable()\n"  # only the freeze's own collection may collect
        "garbage = cycle()\n"
        "alive = Node()\n"
        "asyncio.run(freeze_after_start(0))\n"
        "frozen = gc.get_freeze_count()\n"
        "later = cycle()\n"
        "gc.collect()\n"
        "print(garbage() is None, frozen > 1000, later() is None, alive is not None)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True", "True"]
