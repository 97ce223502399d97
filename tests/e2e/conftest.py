"""Helpers for running the installed ``radsurvey`` command as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def radsurvey_bin() -> str:
    return str(Path(sys.executable).parent / "radsurvey")


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run ``radsurvey ARGS`` to completion; returns the CompletedProcess."""

    def _run(*args: str, timeout_s: float = 60, env: dict[str, str] | None = None, cwd: Path | None = None):
        return subprocess.run(
            [radsurvey_bin(), *args],
            cwd=cwd or tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env={**os.environ, **(env or {})},
        )

    return _run
