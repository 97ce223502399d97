"""mypy strict holds where pyproject.toml says it does: ``protocols/``, ``daemon/journal/`` and ``daemon/sinks/``.

mypy needs the packages under their installed names (``radsurvey.<folder>``), which the editable install
maps with an import hook mypy does not follow: the test lays the four folders out as ``radsurvey/`` in a
temporary directory (symlinks) and checks the strict packages from there, with the project's configuration.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STRICT = ("radsurvey.protocols", "radsurvey.daemon.journal", "radsurvey.daemon.sinks")


def test_pyproject_holds_the_strict_packages_to_mypy_strict() -> None:
    overrides = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    strict = {o["module"] for o in overrides if o.get("strict")}
    assert {f"{package}.*" for package in STRICT} <= strict


@pytest.mark.timeout(600)
def test_the_strict_packages_pass_mypy_strict(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "radsurvey").mkdir(parents=True)
    for layer in ("daemon", "drivers", "protocols", "config"):
        (src / "radsurvey" / layer).symlink_to(REPO / layer, target_is_directory=True)
    packages = [arg for package in STRICT for arg in ("-p", package)]
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--warn-unused-ignores",
            *packages,
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout + out.stderr
