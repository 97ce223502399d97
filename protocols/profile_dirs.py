"""Where user profiles are looked for: set by the command line, read by ``profiles``.

A module of its own with no imports, so that setting it costs nothing at start-up.
"""

from __future__ import annotations

from pathlib import Path

# (origin, directory), highest precedence first; empty: shipped profiles only
SEARCH_PATH: list[tuple[str, Path]] = []
