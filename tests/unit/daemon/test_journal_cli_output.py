"""What ``radsurvey journal tail|export|import-spill`` print for a person (issue 22, the terminal)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from radsurvey.daemon.cli import app
from radsurvey.daemon.cli.journal import csv_value
from radsurvey.daemon.journal import Journal
from tests.unit.daemon.test_journal_compact import iso, reading_row, sample_row

T0 = datetime(2026, 12, 7, 9, 30, 0, 123000, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    """Three samples whose net and ratio are binary-float noise when printed in full (0.124 - 0.1)."""
    path = tmp_path / "j.sqlite"
    with Journal(path, commit_interval_s=0.05) as j:
        for i, (value, bg) in enumerate([(0.124, 0.1), (0.3, 0.3), (0.1 + 0.2, 0.3)]):
            t = T0 + timedelta(seconds=i)
            rseq = j.append("readings", reading_row(t, "mcorridor-door-long-name", value))
            j.append("samples", sample_row(t, "corridor-door-long-name", rseq, value, value, bg, None, 10.0))
    return path


def invoke(args: list[str], columns: int = 80) -> str:
    out = CliRunner().invoke(app, args, env={"COLUMNS": str(columns)}, terminal_width=columns)
    assert out.exit_code == 0, out.output
    return out.output


def test_tail_on_an_80_column_terminal_keeps_the_whole_timestamp(journal: Path) -> None:
    text = invoke(["journal", "tail", "-j", str(journal)], columns=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    for i in range(3):
        assert iso(T0 + timedelta(seconds=i)) in text
    assert "e-" not in text and "…" not in text  # 0.3 - 0.3 prints as 0, not 5.551e-17 cut short


def test_export_csv_has_no_binary_float_noise(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    start, end = iso(T0 - timedelta(seconds=1)), iso(T0 + timedelta(seconds=10))
    CliRunner().invoke(app, ["journal", "export", "-j", str(journal), "--from", start, "--to", end, "-o", str(out)])
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["net_uGy_h"] for r in rows] == ["0.024", "0", "0"]
    assert [r["effective_uSv_h"] for r in rows] == ["0.012", "0", "0"]
    assert rows[0]["ratio"] == "0.0012"
    assert rows[2]["value_uGy_h"] == "0.3"  # 0.30000000000000004 as stored


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_an_exported_number_is_the_stored_one_to_a_billionth(value: float) -> None:
    text = csv_value(value)
    assert abs(float(text) - value) <= 0.5e-9 + abs(value) * 1e-15
    assert text != "-0.0" and (float(text) != 0 or text == "0")


def test_import_spill_without_a_spill_folder_has_nothing_to_import(journal: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(
        f'[journal]\npath = "{journal}"\n\n[[meters]]\nid = "m"\ndriver = "simulated"\n\n'
        '[[channels]]\nid = "c"\nmeter = "m"\nroom_category = 3\n',
        encoding="utf-8",
    )
    out = CliRunner().invoke(app, ["journal", "import-spill", "--config", str(cfg)])
    assert out.exit_code == 0, out.output
    assert out.output == "nothing to import: no spill files given and the config has no [journal] spill_dir\n"
