"""What every command shares: the one-line error contract and global flags."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, TypeVar

import typer

T = TypeVar("T")


@dataclass
class _State:
    verbose: bool = False
    log_json: bool = False


STATE = _State()


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    typer.echo(f"radsurvey: error: {message}", err=True)
    raise typer.Exit(code)


def run_command(fn: Callable[[], T]) -> T:
    """Run a command body, turning RadsurveyError into the one-line error.

    With ``--verbose`` the traceback is printed as well.
    """
    from radsurvey.protocols.errors import RadsurveyError

    try:
        return fn()
    except RadsurveyError as err:
        if STATE.verbose:
            import traceback

            traceback.print_exc(file=sys.stderr)
        fail(str(err))
