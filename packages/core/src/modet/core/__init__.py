"""modet-core: the plugin manager, component registry, config and event storage of modet."""

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

__version__ = "0.1.0"

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
