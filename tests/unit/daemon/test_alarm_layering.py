"""The alarm package has no import cycle: the service's helpers import what lies below it, never the service."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ALARMS = Path(__file__).resolve().parents[3] / "daemon" / "alarms"


def relative_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.module or ""
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1  # includes imports under TYPE_CHECKING
    }


@pytest.mark.parametrize("module", ["actions.py", "mqtt_ack.py", "records.py", "engine.py", "basis.py"])
def test_helpers_of_the_alarm_service_do_not_import_it(module: str) -> None:
    assert "service" not in relative_imports(ALARMS / module)
