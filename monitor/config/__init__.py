"""Config: the YAML watchlist -> validated, frozen models (``models``) through one strict loader
(``loader``) that reports every problem at once as ``file:line:col: path: message``."""

from monitor.config.loader import MAX_DEPTH, MAX_FILE_BYTES, default_path, load, parse_text
from monitor.config.models import (
    BUILTIN_CHANNELS,
    SEVERITIES,
    ChannelSpec,
    Config,
    Duration,
    Settings,
    Size,
    Source,
    Watch,
)

__all__ = [
    "BUILTIN_CHANNELS",
    "SEVERITIES",
    "ChannelSpec",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "Config",
    "Duration",
    "Settings",
    "Size",
    "Source",
    "Watch",
    "default_path",
    "load",
    "parse_text",
]
