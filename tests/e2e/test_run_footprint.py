"""``radsurvey run`` without a terminal leaves rich and pygments unloaded.

structlog's console renderer imports both whenever they are installed; a daemon
under systemd draws no live table, and they cost it 3-4 MB of resident memory
(benchmarks/README.md, footprint). With a terminal, ``run`` draws its live
table with rich as before.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomli_w


def test_run_without_a_terminal_leaves_rich_and_pygments_unloaded(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(tomli_w.dumps({"meters": [{"id": "m", "driver": "simulated", "poll_interval_s": 0.2}]}))
    argv = ["radsurvey", "run", "--config", str(config), "--journal", str(tmp_path / "j.sqlite"), "--duration", "1.5"]
    probe = (
        "import sys\n"
        f"sys.argv = {argv!r}\n"
        "from radsurvey.daemon.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as stop:\n"
        "    assert not stop.code, stop.code\n"
        "loaded = [m for m in ('structlog', 'rich', 'pygments') if sys.modules.get(m) is not None]\n"
        "sys.stderr.write('\\nloaded: ' + ' '.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip().splitlines()[-1] == "loaded: structlog", done.stderr[-2000:]
    assert "daemon stopped" in done.stdout + done.stderr
