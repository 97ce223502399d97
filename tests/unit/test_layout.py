"""Packaging and layering: radsurvey.* only, imports point downwards."""

from __future__ import annotations

import ast
import re
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


# The journal's tables (and its 0.1-compatible views): SQL on them belongs in daemon/journal/.
JOURNAL_TABLES = (
    "readings|samples|meter_events|runs|sink_cursors|alarm_events|alarm_acks|alarm_rule_state|surveys"
    "|survey_point_specs|survey_readings|survey_points|reading_ctx|channels|sample_ctx|reading_rows|sample_rows"
    "|sample_extra|agg_minute|agg_hour|agg_meta|dose_year|uncommitted|clock_steps|schema_version"
)
SQL_ON_JOURNAL_TABLE = re.compile(rf"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+(?:{JOURNAL_TABLES})\b")
# Databases of their own, which are not the daemon's journal.
OWN_DATABASES = {
    "daemon/survey/store.py": "a guided survey's session file (surveys.sqlite by default)",
    "daemon/facility/": "the facility record (facility.sqlite beside the journal)",
}


def _runtime_files() -> list[Path]:
    return [p for layer in ALLOWED for p in (REPO / layer).rglob("*.py")]


def _exempt(path: Path) -> bool:
    rel = path.relative_to(REPO).as_posix()
    return rel.startswith("daemon/journal/") or any(rel.startswith(prefix) for prefix in OWN_DATABASES)


def test_only_the_journal_package_speaks_sql_to_the_journal() -> None:
    """sqlite3 and SQL naming a journal table appear in daemon/journal/ only (docs/architecture.md#the-journal)."""
    bad = []
    for path in _runtime_files():
        if _exempt(path):
            continue
        text = path.read_text()
        if re.search(r"\bsqlite3\b", text):
            bad.append(f"{path.relative_to(REPO)}: sqlite3")
        bad.extend(f"{path.relative_to(REPO)}: {m.group(0)!r}" for m in SQL_ON_JOURNAL_TABLE.finditer(text))
    assert bad == []


def test_the_sql_check_finds_a_statement_on_a_journal_table() -> None:
    assert SQL_ON_JOURNAL_TABLE.search('conn.execute("SELECT MIN(seq) FROM sink_cursors")')
    assert SQL_ON_JOURNAL_TABLE.search("DELETE FROM agg_minute WHERE channel = ?")
    assert not SQL_ON_JOURNAL_TABLE.search("samples from the journal, readings of a meter")
