"""``get_cfg()``: the defaults of every registered plugin, and which plugin defined each key.

The defaults are state derived from the plugins (:mod:`modet.core.plugins`): built once by
calling every plugin's ``modet_add_config`` and rebuilt when a plugin registers, unregisters
or is blocked. Two plugins giving one key different defaults is an error naming both.
"""

from __future__ import annotations

from typing import Any

import attrs

from ..plugins import ModetPluginManager, PluginInfo, call_hook, get_plugin_manager
from .cfgnode import CfgNode
from .errors import ConfigKeyConflictError

_SECTION = object()  # stands for "a section" when comparing flattened configs


@attrs.frozen
class Defaults:
    """The default config and, for each key (dotted), the plugin that defined it."""

    cfg: CfgNode
    owners: dict[str, PluginInfo]


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in node.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat[full] = _SECTION
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class _OwnerTracker:
    """Sees which keys each plugin's ``modet_add_config`` adds or changes."""

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg
        self.before: dict[str, Any] = {}
        self.owners: dict[str, PluginInfo] = {}

    def enter(self, plugin: PluginInfo) -> None:
        self.before = _flatten(self.cfg)

    def exit(self, plugin: PluginInfo) -> None:
        after = _flatten(self.cfg)
        for key, value in after.items():
            if key in self.before and _same(self.before[key], value):
                continue
            old = self.before.get(key)
            owner = self.owners.get(key)
            if owner is not None and owner != plugin:
                raise ConfigKeyConflictError(
                    f"config key {key} is defined by plugin {owner.describe()} with default {old!r} and by "
                    f"plugin {plugin.describe()} with default {value!r}. Uninstall or block one of them "
                    "(MODET_BLOCKED_PLUGINS)."
                )
            self.owners.setdefault(key, plugin)
        for key in self.before.keys() - after.keys():
            owner = self.owners.get(key)
            if owner is not None and owner != plugin:
                raise ConfigKeyConflictError(
                    f"config key {key}, defined by plugin {owner.describe()}, is removed by plugin "
                    f"{plugin.describe()}. Uninstall or block one of them (MODET_BLOCKED_PLUGINS)."
                )


def build_defaults(pm: ModetPluginManager) -> Defaults:
    """Call every plugin's ``modet_add_config`` on an empty config, recording who defined what."""
    cfg = CfgNode()
    tracker = _OwnerTracker(cfg)
    call_hook("modet_add_config", pm, on_enter=tracker.enter, on_exit=tracker.exit, cfg=cfg)
    return Defaults(cfg=cfg, owners=tracker.owners)


def get_cfg() -> CfgNode:
    """A fresh copy of the defaults of every registered modet package and plugin."""
    return get_plugin_manager().derived(build_defaults).cfg.clone()


def config_key_owners() -> dict[str, PluginInfo]:
    """For each default key (dotted; sections too), the plugin that defined it."""
    return dict(get_plugin_manager().derived(build_defaults).owners)
