"""``radsurvey evaluate`` and ``radsurvey tables`` (to be written)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to ``app``."""
