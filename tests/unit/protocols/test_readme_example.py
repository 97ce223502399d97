"""The README's worked-example table is what ``radsurvey evaluate`` computes (row by row, to 6 decimals)."""

from __future__ import annotations

import re
from pathlib import Path

from radsurvey.protocols.evaluation import evaluate
from radsurvey.protocols.survey import parse_survey_text

ROOT = Path(__file__).resolve().parents[3]
HEADER = "| point | category | heights, cm | normalised D, µGy/h | formula | E, µSv/h | DMD_E | verdict |"


def six(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def readme_rows() -> list[list[str]]:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # past the header and the |---| line
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip("|").split("|")])
    return rows


def program_rows() -> list[list[str]]:
    text = (ROOT / "protocols" / "examples" / "worked-example.json").read_text(encoding="utf-8")
    result = evaluate(parse_survey_text(text, "json", "worked-example.json"))
    rows = []
    for p in result.points:
        formula = f"{p.formula} ({result.formula3})" if p.formula == "3" else p.formula
        rows.append(
            [
                p.id,
                str(p.category),
                "/".join(str(h.height_cm) for h in p.heights),
                " / ".join(six(h.normalised_uGy_h) for h in p.heights),
                formula,
                six(p.effective_uSv_h),
                f"{p.limit_uSv_h:g}",
                p.verdict,
            ]
        )
    return rows


def test_the_readme_table_is_the_programs_output():
    readme = readme_rows()
    assert readme, "the worked-example table is missing from README.md"
    for row in readme:
        row[0] = re.sub(r"\s*\(.*\)$", "", row[0])  # "R1 (procedure room workplace)" -> "R1"
    assert readme == program_rows()
