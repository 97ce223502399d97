"""The shipped Grafana dashboards and provisioning files: generated, well formed, importable.

Facts checked are those of Grafana's classic dashboard JSON model and its
provisioning files (grafana.com documentation, "Dashboard JSON model" and
"Provision Grafana"). What the queries answer is tested against real databases
in tests/integration/test_dashboards.py.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GRAFANA = REPO / "dashboards" / "grafana"
FILES = sorted(GRAFANA.glob("*/*.json"))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("radsurvey_dashboards_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_json_files_are_what_the_generator_writes() -> None:
    written = generator().files()
    assert sorted(written) == FILES, "a dashboard file the generator does not write, or one missing"
    for path, text in written.items():
        assert path.read_text(encoding="utf-8") == text, f"{path.name}: run python dashboards/grafana/generate.py"


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_dashboard_follows_grafanas_json_model(path: Path) -> None:
    board: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert board["id"] is None, "an exported dashboard has no database id"
    assert len(board["uid"]) <= 40 and board["uid"].replace("-", "").isalnum()
    assert isinstance(board["schemaVersion"], int) and board["title"]
    datasource_type = {"influxql": "influxdb", "metricsql": "prometheus"}[path.parent.name]
    variables = board["templating"]["list"]
    assert variables[0] == {**variables[0], "type": "datasource", "name": "datasource", "query": datasource_type}
    names = {v["name"] for v in variables}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, f"{panel['title']}: outside the 24-column grid"
        assert panel["type"] in {"timeseries", "stat", "gauge", "table", "state-timeline"}
        for source in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert source == {"type": datasource_type, "uid": "${datasource}"}
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            text = target.get("query") or target.get("expr")
            assert text, f"{panel['title']}: a target without a query"
            used = {w for w in _variables_in(text) if not w.startswith("__") and w not in {"timeFilter"}}
            assert used <= names, f"{panel['title']}: uses {used - names}"
    for annotation in board["annotations"]["list"]:
        assert annotation["name"] and annotation["datasource"]


def _variables_in(text: str) -> set[str]:
    import re

    return {m for m in re.findall(r"\$(\w+)", text) if not m.startswith("tag_")}


def test_the_provisioning_examples_are_grafana_provisioning_files() -> None:
    dashboards = yaml.safe_load((GRAFANA / "provisioning" / "dashboards.yaml").read_text(encoding="utf-8"))
    assert dashboards["apiVersion"] == 1
    (provider,) = dashboards["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources.yaml").read_text(encoding="utf-8"))
    assert sources["apiVersion"] == 1
    assert {s["type"] for s in sources["datasources"]} == {"influxdb", "prometheus"}
    assert all(s["access"] == "proxy" and s["url"].startswith("http") for s in sources["datasources"])
