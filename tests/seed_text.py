"""The regulation's own text (seed 003), which CI has beside the project in shared/seeds/.

Tests of the shielding tables read each cell back from the line its ``source`` cites.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

SEED = "003_0e470150128ae9b3.txt"


@functools.cache
def seed_lines() -> tuple[str, ...]:
    """Seed 003's lines; index 0 is line 1 (found in shared/seeds/ beside the project)."""
    for parent in Path(__file__).resolve().parents:
        path = parent / "shared" / "seeds" / SEED
        if path.is_file():
            return tuple(path.read_text(encoding="utf-8").splitlines())
    raise AssertionError(f"shared/seeds/{SEED} not found beside the project (CI provides it)")


def line(number: int) -> str:
    """Line ``number`` (1-based) of the seed, stripped of spaces and no-break spaces."""
    return seed_lines()[number - 1].strip(" \t\u00a0")


def value_lines(source: str) -> tuple[int, int]:
    """The Russian and Kazakh lines holding the value cited by ``Lx-Ly (kk Lu-Lv)``: (y, v)."""
    found = re.search(r"L(\d+)(?:-(\d+))?\s*\(kk L(\d+)(?:-(\d+))?\)", source)
    assert found, f"source without Russian and Kazakh lines: {source!r}"
    ru_first, ru_last, kk_first, kk_last = found.groups()
    return int(ru_last or ru_first), int(kk_last or kk_first)
