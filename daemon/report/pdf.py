"""HTML report -> PDF through headless Chromium (Debian package ``chromium``).

Chromium's print engine honours the report's print CSS (A4, margins, page
breaks) and shapes Persian right-to-left text correctly, which the pure-Python
PDF libraries do not. It runs with its own throw-away profile, no network
services and no sandbox (the report is our own local HTML).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from radsurvey.protocols.errors import RadsurveyError

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class ReportError(RadsurveyError):
    """A report could not be produced (e.g. no PDF engine)."""


def prepare_target(out: Path) -> None:
    """Make ``out``'s folder; ReportError naming the path if the report cannot go there."""
    if out.is_dir():
        raise ReportError("cannot write the report: is a directory", source=str(out))
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ReportError(f"cannot write the report: {blocking} is not a directory", source=str(out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ReportError(f"cannot create its folder: {err.strerror or err}", source=str(out)) from None


def find_chromium() -> str:
    explicit = os.environ.get("RADSURVEY_CHROMIUM")
    if explicit:
        return explicit
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise ReportError(
        "PDF needs headless Chromium, which is not installed; install it (Debian/Ubuntu/Raspberry Pi OS: "
        "sudo apt-get install chromium) or set RADSURVEY_CHROMIUM, "
        "or use --format html and print to PDF from a browser",
        source="report",
    )


def html_to_pdf(html: str, out: Path, *, timeout_s: float = 120.0) -> Path:
    """Render ``html`` to ``out`` (A4, print CSS) with headless Chromium."""
    exe = find_chromium()
    prepare_target(out)
    out = out.resolve()
    with tempfile.TemporaryDirectory(prefix="radsurvey-pdf-") as tmp:
        page = Path(tmp) / "report.html"
        page.write_text(html, encoding="utf-8")
        profile = Path(tmp) / "profile"
        printed = Path(tmp) / "report.pdf"  # chromium writes here; then copied to ``out``
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            f"--user-data-dir={profile}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={printed}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"chromium did not finish within {timeout_s:g} s", source=exe) from None
        except OSError as err:
            raise ReportError(f"cannot run chromium: {err}", source=exe) from None
        if not printed.exists() or printed.stat().st_size == 0:
            tail = (proc.stderr or "").strip().splitlines()[-3:]
            raise ReportError(f"chromium produced no PDF (exit {proc.returncode}): {' | '.join(tail)}", source=exe)
        try:
            shutil.copyfile(printed, out)
        except OSError as err:
            raise ReportError(f"cannot write the report: {err.strerror or err}", source=str(out)) from None
    return out
