"""structlog set-up: a readable console on a terminal, JSON lines otherwise."""

from __future__ import annotations

import logging
import sys
import threading

import structlog


class _StderrLogger:
    """Writes each line to the current ``sys.stderr``; a line that cannot be written is dropped.

    Logging must never stop its caller: the journal writer thread logs a failed
    commit and retries, and a closed stderr or a broken pipe to journald must not
    end that thread.
    """

    _lock = threading.Lock()

    def msg(self, message: str) -> None:
        try:
            with self._lock:
                print(message, file=sys.stderr, flush=True)
        except (OSError, ValueError):  # closed or broken stream
            pass

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def configure_logging(*, json: bool | None = None, verbose: bool = False) -> None:
    """Log to stderr; JSON when ``json`` is true or stderr is not a terminal."""
    if json is None:
        json = not sys.stderr.isatty()
    level = logging.DEBUG if verbose else logging.INFO
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_args: _StderrLogger(),
        cache_logger_on_first_use=False,
    )
