"""The process-wide component registry and detectron2-style ``Registry`` views on it.

The registry is state derived from the plugins (see :mod:`modet.core.plugins`): it is built
by calling every plugin's ``modet_register_components`` and rebuilt whenever a plugin
registers, unregisters or is blocked. Components registered in a script with
``@BACKBONE_REGISTRY.register()`` belong to the script: they are kept here and added to every
registry built, so neither a new plugin nor ``reset_plugin_manager()`` drops them. ``locate``
and ``convert_target_to_string`` map config strings to objects, as in ``detectron2.utils.registry``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypeVar

from .components import (
    KINDS,
    SCRIPT_PROVIDER,
    ComponentEntry,
    ComponentImportError,
    ComponentRegistry,
    DuplicateComponentError,
    UnknownComponentError,
    UnknownKindError,
)
from .locate import convert_target_to_string as convert_target_to_string
from .locate import locate as locate
from .plugins import ModetPluginManager, call_hook, get_plugin_manager

__all__ = [
    "KINDS",
    "ComponentEntry",
    "ComponentImportError",
    "ComponentRegistry",
    "DuplicateComponentError",
    "Registry",
    "UnknownComponentError",
    "UnknownKindError",
    "build_registry",
    "convert_target_to_string",
    "get_registry",
    "locate",
]

T = TypeVar("T")

#: detectron2's spelling (``detectron2.utils.registry._convert_target_to_string``).
_convert_target_to_string = convert_target_to_string


class _ScriptComponents:
    """Kinds and components declared by code outside plugins (scripts, notebooks, tests)."""

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.entries: dict[tuple[str, str], ComponentEntry] = {}
        self.lock = threading.RLock()


_script = _ScriptComponents()


def _explain_missing(pm: ModetPluginManager, kind: str, name: str) -> str:
    """Which installed-but-not-loaded plugin provides ``kind``/``name``, if one does."""
    for unloaded in pm.unloaded.values():
        plugin = unloaded.load()
        register = getattr(plugin, "modet_register_components", None)
        if register is None:
            continue
        scratch = ComponentRegistry(KINDS)
        scratch.add_kind(kind)
        try:
            register(registry=scratch)
        except Exception:
            continue
        if (kind, name) in scratch:
            return (
                f" {kind} {name!r} is provided by plugin {unloaded.info.describe()}, which is not loaded: "
                f"{unloaded.reason}."
            )
    return pm.not_loaded_hint()


def build_registry(pm: ModetPluginManager) -> ComponentRegistry:
    """A registry filled by every plugin's ``modet_register_components`` (with provenance),
    then by the components registered in the script."""
    with _script.lock:
        registry = ComponentRegistry(set(KINDS) | _script.kinds)
        call_hook("modet_register_components", pm, registry=registry)
        for entry in _script.entries.values():
            registry.add_entry(entry)
    registry.explain_missing = lambda kind, name: _explain_missing(pm, kind, name)
    return registry


def get_registry() -> ComponentRegistry:
    """The process-wide registry, built from the registered plugins on first use."""
    return get_plugin_manager().derived(build_registry)


class Registry:
    """detectron2-style registry object: a view on one kind of the global registry.

    ``BACKBONE_REGISTRY.register()`` decorates a class or function in a script or notebook;
    ``BACKBONE_REGISTRY.get(name)`` finds built-ins and plugins alike. Creating a view
    declares its kind.
    """

    def __init__(self, kind: str, display_name: str | None = None) -> None:
        self.kind = kind
        self.display_name = display_name or kind.upper()
        with _script.lock:
            _script.kinds.add(kind)

    def _registry(self) -> ComponentRegistry:
        registry = get_registry()
        registry.add_kind(self.kind)
        return registry

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Use as ``@REG.register()`` or call ``REG.register(obj)``."""

        def add(target: T) -> T:
            entry_name = name or getattr(target, "__name__", None)
            if not entry_name:
                raise ValueError(f"cannot register {target!r} in {self.display_name} without a name")
            provider = getattr(target, "__module__", None) or SCRIPT_PROVIDER
            entry = ComponentEntry(self.kind, entry_name, target, provider)
            with _script.lock:
                self._registry().add_entry(entry)  # a name taken already is an error now
                _script.entries[(self.kind, entry_name)] = entry
            return target

        return add if obj is None else add(obj)

    def unregister(self, name: str) -> Any:
        """Remove a component registered in the script (to redefine it in a notebook)."""
        with _script.lock:
            if (self.kind, name) not in _script.entries:
                raise KeyError(f"{name!r} was not registered in {self.display_name} by a script")
            del _script.entries[(self.kind, name)]
            return self._registry().unregister(self.kind, name).target

    def get(self, name: str) -> Any:
        return self._registry().get(self.kind, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.kind, name) in self._registry()

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        registry = self._registry()
        return iter([(name, registry.get(self.kind, name)) for name in registry.names(self.kind)])

    def __len__(self) -> int:
        return len(self._registry().names(self.kind))

    def __repr__(self) -> str:
        names = ", ".join(self._registry().names(self.kind))
        return f"Registry({self.display_name}: {names})"
