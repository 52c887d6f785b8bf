"""The errors of config handling; each message names the file, key or plugins involved."""

from __future__ import annotations

from ..plugins import PluginError


class ConfigError(ValueError):
    """A config file or value that cannot be used, with the file or key named in the message."""


class ConfigValueError(ConfigError):
    """A config value outside what its key allows; the message names the key."""


class ConfigKeyConflictError(PluginError, ConfigError):
    """Two plugins define one config key with different defaults; the message names both."""
