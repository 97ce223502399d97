"""Every ``radsurvey`` command line the README shows names a real command with options it really has.

The README's shell examples are read from its ``sh`` blocks; each line that runs
radsurvey is walked down the CLI's own command tree (the click objects typer
builds), so a renamed command or a dropped option fails here instead of in a
user's terminal. The worked-example numbers are checked by
tests/unit/protocols/test_readme_example.py.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from radsurvey.daemon.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_command_lines() -> list[str]:
    lines, in_sh = [], False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
            continue
        if in_sh and re.search(r"(^|/)radsurvey\s", line):
            lines.append(line.split("  #", 1)[0].strip())
    return lines


def walk(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command a line names, the path to it and the words left for its options."""
    command: Any = typer.main.get_command(app)  # typer's own click tree (typer vendors click)
    path: list[str] = []
    while hasattr(command, "commands") and words and not words[0].startswith("-"):
        name = words[0].split("|")[0]
        sub = command.commands.get(name)
        assert sub is not None, f"no command {' '.join([*path, name])!r}"
        command, path, words = sub, [*path, name], words[1:]
    return command, path, words


def options_of(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}


LINES = readme_command_lines()


def test_the_readme_shows_radsurvey_commands() -> None:
    assert len(LINES) >= 20, LINES


@pytest.mark.parametrize("line", LINES)
def test_each_readme_command_exists_with_the_options_it_shows(line: str) -> None:
    words = shlex.split(line.replace("[", " ").replace("]", " ").replace("|", " | "))
    words = words[next(i for i, w in enumerate(words) if w.endswith("radsurvey")) + 1 :]
    words = [w for w in words if w != "..."]
    # "list | show | export" lists sibling commands: each one must exist.
    if "|" in words:
        head = words[: words.index("|") - 1]
        names = [w for w in words[len(head) :] if w != "|" and not w.startswith("-")]
        for name in names:
            walk([*head, name])
        return
    command, path, rest = walk(words)
    assert path, f"{line!r} names no command"
    known = options_of(command)
    for word in rest:
        if word.startswith("--"):
            assert word.split("=", 1)[0] in known, f"{' '.join(path)} has no option {word} (README: {line!r})"
        elif word.startswith("-") and len(word) == 2:
            assert word in known, f"{' '.join(path)} has no option {word} (README: {line!r})"
