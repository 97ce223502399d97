"""The daemon configuration: schema (pydantic models) and loader.

``load_config(path)`` reads a TOML file, layers environment variables
(``RADSURVEY_SECTION__KEY``) and command-line overrides on top, validates once,
and raises ConfigError with every problem and its key path.
"""

from .loader import ConfigProblem, format_problems, load_config, parse_config
from .schema import ChannelConfig, DaemonConfig, JournalConfig, MeterConfig, SiteConfig

__all__ = [
    "ChannelConfig",
    "ConfigProblem",
    "DaemonConfig",
    "JournalConfig",
    "MeterConfig",
    "SiteConfig",
    "format_problems",
    "load_config",
    "parse_config",
]
