"""``radsurvey run`` leaves unloaded what a running daemon does not use.

Every module imported stays in a daemon's memory for months (benchmarks/README.md,
RSS): without a terminal, structlog's console renderer would import rich and
pygments (3-4 MB); structlog imports greenlet whenever it is installed (1 MB; the
test tools bring it); the other command groups (survey, facility, meters, ...)
and the survey evaluation with the shielding design tables are not the daemon's
(the pipeline uses the formulas alone). With a terminal, ``run`` draws its live
table with rich as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomli_w

NOT_LOADED = (
    "rich",
    "pygments",
    "greenlet",
    "radsurvey.protocols.evaluation",
    "radsurvey.protocols.shielding",
    "radsurvey.protocols.survey",
    "radsurvey.daemon.cli.survey",
    "radsurvey.daemon.cli.facility",
    "radsurvey.daemon.cli.meters",
    "radsurvey.daemon.cli.journal",
    "radsurvey.daemon.cli.evaluate",
    "radsurvey.daemon.cli.shielding",
)


def _run_and_list_loaded(tmp_path: Path, config: dict[str, object], names: tuple[str, ...]) -> str:
    """Run the daemon 1.5 s without a terminal; the line naming which of ``names`` were imported."""
    path = tmp_path / "c.toml"
    path.write_text(tomli_w.dumps(config))
    argv = ["radsurvey", "run", "--config", str(path), "--journal", str(tmp_path / "j.sqlite"), "--duration", "1.5"]
    probe = (
        "import sys\n"
        f"sys.argv = {argv!r}\n"
        "from radsurvey.daemon.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        f"names = {names!r}\n"
        "loaded = [m for m in names if sys.modules.get(m) is not None]\n"
        "sys.stderr.write('\\nloaded: ' + ' '.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "daemon stopped" in done.stdout + done.stderr
    return done.stderr.rstrip().splitlines()[-1]


def test_run_without_a_terminal_loads_only_what_the_daemon_uses(tmp_path: Path) -> None:
    config = {"meters": [{"id": "m", "driver": "simulated", "poll_interval_s": 0.2}]}
    loaded = _run_and_list_loaded(tmp_path, config, ("structlog", "radsurvey.protocols.formulas", *NOT_LOADED))
    assert loaded == "loaded: structlog radsurvey.protocols.formulas"


def test_run_with_the_console_serves_it_without_aiohttp(tmp_path: Path) -> None:
    # The console is our own small server over h11 (daemon/web/http.py): aiohttp cost 9.4 MB (issue 24 §5).
    config = {
        "meters": [{"id": "m", "driver": "simulated", "poll_interval_s": 0.2}],
        "web": {"listen": "127.0.0.1:0", "users_file": str(tmp_path / "users")},
    }
    names = ("h11", "radsurvey.daemon.web.http", "aiohttp", "multidict", "yarl", *NOT_LOADED)
    assert _run_and_list_loaded(tmp_path, config, names) == "loaded: h11 radsurvey.daemon.web.http"


def test_the_consoles_translations_load_no_survey_evaluation() -> None:
    # Every console page is translated through report.i18n; only a report (or a survey on the Surveys page)
    # needs the evaluation and the shielding tables.
    probe = (
        "import sys\n"
        "import radsurvey.daemon.report.i18n\n"
        "names = ('radsurvey.daemon.survey.evaluation', 'radsurvey.protocols.evaluation',"
        " 'radsurvey.protocols.shielding')\n"
        "print([m for m in names if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
