"""docs/architecture.md is the design the repository cites: every cited section exists, and nothing
cites the planning document that lives outside the repository."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHITECTURE = REPO / "docs" / "architecture.md"
# Spelled in two pieces so that this file does not cite it itself.
OUTSIDE_DESIGN = "DESIGN" + ".md"
CITATION = re.compile(r"architecture\.md#([A-Za-z0-9_-]+)")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".sh", ".j2", ".html", ".js", ".css", ".yaml", ".rules", ""}
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", "build", "dist", ".mypy_cache", ".ruff_cache"}


def repository_text_files() -> Iterator[Path]:
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info") and not d.startswith(".")]
        for name in files:
            path = Path(root) / name
            if path.suffix in TEXT_SUFFIXES or name in {"Makefile"}:
                yield path


def read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return ""


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors() -> set[str]:
    out = set()
    in_code = False
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (m := re.match(r"#{1,6} (.+)", line)):
            out.add(anchor(m.group(1)))
    return out


def test_anchors_are_made_as_github_makes_them() -> None:
    assert anchor("A reading's way from the meter to the sinks") == "a-readings-way-from-the-meter-to-the-sinks"
    assert anchor("Layers and the import rule") == "layers-and-the-import-rule"


def test_no_file_cites_the_design_document_outside_the_repository() -> None:
    citing = [str(p.relative_to(REPO)) for p in repository_text_files() if OUTSIDE_DESIGN in read(p)]
    assert citing == [], f"cite docs/architecture.md#<section> instead of {OUTSIDE_DESIGN}"


def test_every_cited_section_of_the_architecture_exists() -> None:
    known = anchors()
    cited = {
        (str(p.relative_to(REPO)), section) for p in repository_text_files() for section in CITATION.findall(read(p))
    }
    assert cited, "the code cites docs/architecture.md"
    missing = sorted(f"{where}: #{section}" for where, section in cited if section not in known)
    assert missing == []
