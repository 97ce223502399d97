"""systemd units, udev rules and the install scripts for a fixed monitor (see docs/raspberry-pi.md).

Shipped as package data so that an installed radsurvey can find them::

    python -c 'import radsurvey.systemd as s; print(s.path("radsurvey.service"))'
    python -c 'import radsurvey.systemd as s; print(s.docs_dir())'
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

FILES = (
    "radsurvey.service",
    "radsurvey@.service",
    "99-radsurvey.rules",
    "install.sh",
    "uninstall.sh",
    "radsurvey.toml",
)


def path(name: str) -> Path:
    """The installed path of one of :data:`FILES`."""
    if name not in FILES:
        raise KeyError(f"unknown systemd file {name!r}; known: {', '.join(FILES)}")
    return Path(str(resources.files(__name__).joinpath(name)))


def docs_dir() -> Path:
    """The folder holding the documentation (``raspberry-pi.md`` ...): shipped package data, or the checkout's."""
    candidates = []
    try:
        candidates.append(Path(str(resources.files("radsurvey.docs"))))
    except ModuleNotFoundError:  # an editable install made before radsurvey.docs existed
        pass
    candidates.append(Path(__file__).resolve().parent.parent / "docs")
    for folder in candidates:
        if (folder / "raspberry-pi.md").is_file():
            return folder
    raise FileNotFoundError("the radsurvey documentation is not installed (no raspberry-pi.md in radsurvey.docs)")
