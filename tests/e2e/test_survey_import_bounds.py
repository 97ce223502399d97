"""Issue 21 §2: `survey import` bounds sizes and counts, with one clear line and nothing stored."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from radsurvey.daemon.survey.files import MAX_FILE_BYTES, MAX_POINTS, MAX_TEXT

EXAMPLE = json.loads((Path(__file__).parents[2] / "protocols/examples/worked-example.json").read_text())


def too_long_field() -> dict:
    doc = copy.deepcopy(EXAMPLE)
    doc["points"][1]["room"] = "x" * (MAX_TEXT + 1)
    return doc


def too_many_points() -> dict:
    doc = copy.deepcopy(EXAMPLE)
    doc["points"] = [{**doc["points"][2], "id": f"P{i}"} for i in range(MAX_POINTS + 1)]
    return doc


def too_big_file() -> dict:
    doc = copy.deepcopy(EXAMPLE)
    doc["padding"] = ["y" * 1000] * (MAX_FILE_BYTES // 1000 + 10)  # many short texts: only the size is wrong
    return doc


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (too_long_field, f"points[1].room: text of {MAX_TEXT + 1} characters; at most {MAX_TEXT}"),
        (too_many_points, f"points: {MAX_POINTS + 1} points; at most {MAX_POINTS}"),
        (too_big_file, "MB; a survey file is at most 4.2 MB"),
    ],
)
def test_an_oversized_survey_file_is_refused_in_one_line_and_nothing_is_stored(
    run_cli, tmp_path: Path, make, message: str
) -> None:
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(make()))
    journal = tmp_path / "j.sqlite"
    out = run_cli("survey", "import", str(path), "-j", str(journal))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert message in out.stderr and str(path) in out.stderr
    listed = run_cli("survey", "list", "-j", str(journal), "--json") if journal.exists() else None
    assert listed is None or json.loads(listed.stdout or "[]") in ([], {"surveys": []})
