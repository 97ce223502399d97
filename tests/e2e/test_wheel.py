"""`pip install .` gives a working radsurvey: the wheel carries every file the program reads at run time.

The tests themselves run on the editable install, which reads data files from
the checkout; this builds the wheel, unpacks it into a bare virtual environment
(dependencies from the test environment, never the checkout) and runs the
program from there.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import radsurvey.systemd as units

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: a build in the checkout leaves build/ and *.egg-info behind.
    source = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("config", "daemon", "drivers", "protocols", "systemd", "docs"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (whl,) = out.glob("radsurvey-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only the unpacked wheel, with the test environment's dependencies behind it."""
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=False).create(root)
    (purelib,) = root.glob("lib/python*/site-packages")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(purelib)
    # A plain path entry: the test environment's .pth files (its editable
    # radsurvey finder among them) are not processed from here.
    deps = [p for p in site.getsitepackages() if Path(p).exists()]
    (purelib / "zz-test-dependencies.pth").write_text("\n".join(deps) + "\n")
    return root / "bin" / "python"


def run(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from radsurvey.daemon.cli import main; sys.argv = ['radsurvey', *sys.argv[1:]]; main()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [str(python), "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )


def test_the_wheel_holds_the_data_files_and_no_generic_top_level_names(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "radsurvey/protocols/profiles/kz_2008_303.toml",
        "radsurvey/protocols/examples/worked-example.json",
        "radsurvey/daemon/report/templates/report.html.j2",
        "radsurvey/protocols/shielding/kz_2008_303.toml",
        "radsurvey/protocols/examples/shielding-room.toml",
        "radsurvey/daemon/report/templates/shielding.html.j2",
        "radsurvey/docs/shielding.md",
        "radsurvey/daemon/report/locale/fa/LC_MESSAGES/radsurvey.po",
        "radsurvey/drivers/ascii/profiles/mightyohm.toml",
        "radsurvey/drivers/gmc/README.md",
        "radsurvey/systemd/radsurvey.service",
        "radsurvey/systemd/99-radsurvey.rules",
        "radsurvey/config/examples/demo.toml",
        "radsurvey/config/examples/monitor.toml",
        "radsurvey/docs/raspberry-pi.md",
        "radsurvey/docs/alarms.md",
        "radsurvey/docs/mqtt.md",
        "radsurvey/docs/web.md",
        "radsurvey/daemon/web/templates/overview.html.j2",
        "radsurvey/daemon/web/static/console.js",
        "radsurvey/daemon/web/static/console.css",
        *(f"radsurvey/systemd/{name}" for name in units.FILES),
    ):
        assert needed in names, f"{needed} is not in the wheel"
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"radsurvey", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}


def python_says(python: Path, cwd: Path, code: str) -> str:
    """What ``code`` prints, run by the wheel's interpreter."""
    out = subprocess.run([str(python), "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def packaged(python: Path, cwd: Path, package: str, name: str) -> str:
    """The path of a data file of ``package`` as installed from the wheel."""
    return python_says(python, cwd, f"import importlib.resources as r; print(r.files({package!r}) / {name!r})")


def test_the_installed_program_runs_from_the_wheel_alone(installed: Path, tmp_path: Path) -> None:
    where = python_says(installed, tmp_path, "import radsurvey.protocols as p; print(p.__file__)")
    assert not where.startswith(str(REPO)), "radsurvey must come from the wheel, not the checkout"

    example = packaged(installed, tmp_path, "radsurvey.protocols.examples", "worked-example.json")
    evaluated = run(installed, tmp_path, "evaluate", example, "--format", "json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"verdict": "fail"' in evaluated.stdout

    report = run(installed, tmp_path, "report", example, "--format", "html", "--lang", "fa")
    assert report.returncode == 0, report.stderr
    assert 'dir="rtl"' in report.stdout

    demo = packaged(installed, tmp_path, "radsurvey.config.examples", "demo.toml")
    checked = run(installed, tmp_path, "config", "check", demo)
    assert checked.returncode == 0, checked.stderr + checked.stdout

    tables = run(installed, tmp_path, "tables")
    assert tables.returncode == 0 and "radiography" in tables.stdout
