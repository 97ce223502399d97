"""The web console the daemon serves itself (issue 13; docs/web.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from radsurvey.config.schema import DaemonConfig


def services_for(cfg: DaemonConfig) -> list[Any]:
    """The web service when ``[web]`` is present and enabled (its modules are imported only then)."""
    if cfg.web is None or not cfg.web.enabled:
        return []
    from .service import WebService

    return [WebService(cfg)]


__all__ = ["services_for"]
