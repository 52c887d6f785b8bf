"""modet-core: the plugin manager, component registry, config and event storage of modet."""

from importlib.metadata import version as _distribution_version

from .config import CfgNode, configurable, get_cfg
from .events import EventStorage, get_event_storage
from .hookspecs import hookimpl, hookspec
from .plugins import get_plugin_manager, list_plugins, reset_plugin_manager
from .registry import (
    ComponentRegistry,
    DuplicateComponentError,
    Registry,
    UnknownComponentError,
    get_registry,
)

__version__ = _distribution_version("modet-core")  # the one source of the version is pyproject.toml

__all__ = [
    "CfgNode",
    "ComponentRegistry",
    "DuplicateComponentError",
    "EventStorage",
    "Registry",
    "UnknownComponentError",
    "configurable",
    "get_cfg",
    "get_event_storage",
    "get_plugin_manager",
    "get_registry",
    "hookimpl",
    "hookspec",
    "list_plugins",
    "reset_plugin_manager",
]
