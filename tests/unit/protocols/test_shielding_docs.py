"""docs/shielding.md's worked example is what the program computes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[3] / "docs" / "shielding.md"


def worked_example() -> tuple[list[str], dict[str, str]]:
    text = DOC.read_text(encoding="utf-8").split("## Worked example", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```sh\n(radsurvey shielding barrier [^\n]+)\n```", text)
    assert command
    rows = dict(re.findall(r"^\| (.+?) \| (.+?) \|$", text, flags=re.M))
    return command[1].split()[1:], rows


def test_the_worked_example_table_is_what_the_command_prints() -> None:
    args, rows = worked_example()
    radsurvey = str(Path(sys.executable).parent / "radsurvey")
    out = subprocess.run([radsurvey, *args], capture_output=True, text=True, timeout=60, check=True)
    doc = json.loads(out.stdout)
    assert rows["D0 = 10³ · 9 · 1000 · 1 / (30 · 2²)"] == f"{doc['D0_uGy_h']:g} µGy/h"
    assert rows["K = 75000 / 13"] == f"{doc['K']:.6g}"
    assert rows["Table 2 row (next row up)"] == f"{doc['table_K_row']:g}"
    assert rows["required lead at 100 kV"] == f"{doc['lead_mm']:g} mm"
    assert (
        rows["brick 250 mm at 100 kV (195 mm = 2 mm Pb, 260 mm = 3 mm Pb)"]
        == f"{doc['installed_lead_equivalent_mm']:g} mm"
    )
    assert doc["sufficient"] is False
