"""``radsurvey run`` attaches only its own command; the full app is the same whatever was built first."""

from __future__ import annotations

import subprocess
import sys

NAMES = (
    "import typer.main\n"
    "def names(app):\n"
    "    return [typer.main.get_command_name(c.name or c.callback.__name__) for c in app.registered_commands]"
    " + [g.name for g in app.registered_groups]\n"
)


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", NAMES + code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_run_only_app_has_run_alone_and_loads_no_other_command_group() -> None:
    out = _run(
        "import sys\n"
        "from radsurvey.daemon import cli\n"
        "print(names(cli._build(only_run=True)), 'radsurvey.daemon.cli.survey' in sys.modules)\n"
    )
    assert out == "['run'] False"


def test_the_full_app_after_a_run_only_build_lists_every_command_in_the_usual_order() -> None:
    fresh = _run("from radsurvey.daemon.cli import app\nprint(names(app))\n")
    after_run = _run("from radsurvey.daemon import cli\ncli._build(only_run=True)\nprint(names(cli.app))\n")
    assert after_run == fresh
    assert "'journal'" in fresh and "'run'" in fresh
