"""Maps the top-level folders onto the ``radsurvey.*`` namespace.

The repository keeps ``daemon/``, ``drivers/``, ``protocols/`` and ``config/`` at
its top level (docs/architecture.md#one-namespace-four-folders) while everything imports as ``radsurvey.<folder>``.
``radsurvey`` itself is a namespace package with no ``__init__.py``.
"""

from setuptools import find_packages, setup

FOLDERS = ("daemon", "drivers", "protocols", "config")
# Data-only folders: ``radsurvey.systemd`` carries the unit files, udev rules and
# install scripts, ``radsurvey.config.examples`` the example configs and
# ``radsurvey.docs`` the documentation, as package data (pyproject.toml's
# package-data patterns).
DATA_FOLDERS = ("systemd", "config/examples", "docs")

packages: list[str] = []
package_dir: dict[str, str] = {}
for folder in FOLDERS:
    packages.append(f"radsurvey.{folder}")
    package_dir[f"radsurvey.{folder}"] = folder
    for sub in find_packages(folder):
        name = f"radsurvey.{folder}.{sub}"
        packages.append(name)
        package_dir[name] = f"{folder}/{sub.replace('.', '/')}"

for folder in DATA_FOLDERS:
    name = "radsurvey." + folder.replace("/", ".")
    packages.append(name)
    package_dir[name] = folder

setup(packages=packages, package_dir=package_dir)
