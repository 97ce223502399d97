"""Packaging and layering: radsurvey.* only, imports point downwards."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# layer -> layers of ours it may import (docs/architecture.md#layers-and-the-import-rule). protocols.errors is the
# shared exception tree and may be imported from anywhere.
ALLOWED = {
    "protocols": {"protocols"},
    "config": {"config", "protocols"},
    "drivers": {"drivers", "config", "protocols"},
    "daemon": {"daemon", "drivers", "config", "protocols"},
}


def our_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    layers: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "radsurvey" and len(parts) > 1:
                layers.add(parts[1])
            if parts[0] in ALLOWED or parts[0] == "tests":
                layers.add(f"bare:{parts[0]}")
    return layers


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_lower_layers(layer: str) -> None:
    bad = []
    for path in (REPO / layer).rglob("*.py"):
        for imported in our_imports(path):
            if imported.startswith("bare:") or imported not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(REPO)} imports {imported}")
    assert bad == []


def test_tests_import_radsurvey_not_bare_folders() -> None:
    bad = [
        f"{p.relative_to(REPO)}: {imp}"
        for p in (REPO / "tests").rglob("*.py")
        for imp in our_imports(p)
        if imp.startswith("bare:") and imp != "bare:tests"
    ]
    assert bad == []


def test_installed_environment_has_radsurvey_namespace_and_no_generic_names(tmp_path: Path) -> None:
    code = (
        "import importlib.util as u\n"
        "import radsurvey.daemon, radsurvey.drivers, radsurvey.protocols, radsurvey.config\n"
        "assert not hasattr(__import__('radsurvey'), '__file__') or __import__('radsurvey').__file__ is None\n"
        "for name in ('daemon', 'config', 'drivers', 'protocols'):\n"
        "    assert u.find_spec(name) is None, name\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def radsurvey_bin() -> str:
    return str(Path(sys.executable).parent / "radsurvey")


def test_version_comes_from_package_metadata(tmp_path: Path) -> None:
    out = subprocess.run([radsurvey_bin(), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("radsurvey ")
