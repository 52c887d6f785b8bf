"""The one plugin manager of modet, created lazily on first use.

Entry points of group ``modet`` are loaded once. Like pytest and tox:

- ``MODET_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point (register plugins by hand);
- ``MODET_BLOCKED_PLUGINS=a,b`` skips the entry points (or distributions) named ``a`` and ``b``.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading

import attrs
import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "modet"
DISABLE_AUTOLOAD_ENV = "MODET_DISABLE_PLUGIN_AUTOLOAD"
BLOCKED_PLUGINS_ENV = "MODET_BLOCKED_PLUGINS"

_lock = threading.RLock()
_manager: ModetPluginManager | None = None


@attrs.frozen
class PluginInfo:
    """One registered plugin: its name, the distribution that shipped it and its version."""

    name: str
    distribution: str | None
    version: str | None


class PluginLoadError(ImportError):
    """An installed plugin's entry point could not be imported."""


class ModetPluginManager(pluggy.PluginManager):
    """pluggy's manager that also remembers which distribution shipped each plugin."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, importlib.metadata.Distribution] = {}

    def info(self, plugin: object) -> PluginInfo:
        """Name, distribution and version of a registered plugin object."""
        name = self.get_name(plugin) or repr(plugin)
        dist = self.distributions.get(name)
        if dist is None:
            return PluginInfo(name=name, distribution=None, version=None)
        return PluginInfo(name=name, distribution=dist.metadata["Name"], version=dist.version)


def blocked_plugins() -> frozenset[str]:
    """Names listed in ``MODET_BLOCKED_PLUGINS`` (comma or whitespace separated)."""
    raw = os.environ.get(BLOCKED_PLUGINS_ENV, "")
    return frozenset(part for part in raw.replace(",", " ").split() if part)


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _load_entry_points(pm: ModetPluginManager) -> None:
    blocked = blocked_plugins()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else None
        if ep.name in blocked or (dist is not None and dist in blocked):
            pm.set_blocked(ep.name)
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginLoadError(
                f"modet plugin {ep.name!r} ({ep.value}, from distribution {dist}) failed to import: "
                f"{type(exc).__name__}: {exc}. Uninstall it, or set {BLOCKED_PLUGINS_ENV}={ep.name}"
            ) from exc
        pm.register(plugin, name=ep.name)
        if ep.dist is not None:
            pm.distributions[ep.name] = ep.dist


def create_plugin_manager(*, autoload: bool | None = None) -> ModetPluginManager:
    """A new manager with modet's hookspecs, entry points loaded unless disabled."""
    pm = ModetPluginManager()
    if autoload is None:
        autoload = not _autoload_disabled()
    if autoload:
        _load_entry_points(pm)
    for name in blocked_plugins():
        pm.set_blocked(name)
    return pm


def get_plugin_manager() -> ModetPluginManager:
    """The process-wide plugin manager, created (and entry points loaded) on first call."""
    global _manager
    with _lock:
        if _manager is None:
            _manager = create_plugin_manager()
        return _manager


def reset_plugin_manager() -> None:
    """Forget the manager and everything derived from it; the next use reloads plugins.

    Meant for tests and for notebooks after ``pip install``-ing a plugin.
    """
    global _manager
    from . import registry
    from .config import cfgnode

    with _lock:
        _manager = None
        registry._reset_global_registry()
        cfgnode._reset_cached_defaults()


def list_plugins() -> list[PluginInfo]:
    """Every plugin registered with the global manager, sorted by name."""
    pm = get_plugin_manager()
    infos = [pm.info(plugin) for plugin in pm.get_plugins()]
    return sorted(infos, key=lambda info: info.name)
