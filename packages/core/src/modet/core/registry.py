"""Named components by kind, with the distribution that provided each.

The global registry is filled once, lazily, by calling every plugin's
``modet_register_components`` hook. detectron2-style registry objects
(``BACKBONE_REGISTRY = Registry("backbone")``) are views on it. ``locate`` and
``convert_target_to_string`` map config strings to objects, as in ``detectron2.utils.registry``.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

import attrs

from .locate import convert_target_to_string as convert_target_to_string
from .locate import locate as locate

T = TypeVar("T")

#: detectron2's spelling (``detectron2.utils.registry._convert_target_to_string``).
_convert_target_to_string = convert_target_to_string

#: detectron2's registries; plugins may add kinds of their own.
KINDS = (
    "meta_arch",
    "backbone",
    "proposal_generator",
    "rpn_head",
    "anchor_generator",
    "roi_heads",
    "roi_box_head",
    "roi_mask_head",
    "roi_keypoint_head",
    "sem_seg_head",
)

SCRIPT_PROVIDER = "__main__"


class UnknownComponentError(KeyError):
    """A name that no installed package or plugin registered under that kind."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class DuplicateComponentError(ValueError):
    """Two providers claimed the same (kind, name)."""


class ComponentImportError(ImportError):
    """A lazily registered component whose module could not be imported."""


def _valid_target(_instance: Any, _attribute: Any, value: Any) -> None:
    if isinstance(value, str) and ":" not in value:
        raise ValueError(f"lazy target must look like 'package.module:attribute', got {value!r}")


@attrs.frozen
class ComponentEntry:
    """One registered component: ``target`` is the object, or ``"module:attr"`` until first use."""

    kind: str = attrs.field(validator=attrs.validators.min_len(1))
    name: str = attrs.field(validator=attrs.validators.min_len(1))
    target: Any = attrs.field(validator=_valid_target)
    provider: str

    @property
    def is_lazy(self) -> bool:
        return isinstance(self.target, str)

    def load(self) -> Any:
        """The component itself, importing its module if it was registered lazily."""
        if not self.is_lazy:
            return self.target
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise ComponentImportError(
                f"{self.kind} {self.name!r} (provided by {self.provider}) points to "
                f"{self.target!r}, which cannot be loaded: {exc}"
            ) from exc
        return obj


class ComponentRegistry:
    """kinds -> names -> :class:`ComponentEntry`."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, ComponentEntry]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._provider = SCRIPT_PROVIDER
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def provided_by(self, provider: str) -> Iterator[ComponentRegistry]:
        """Attribute every registration inside the block to ``provider``."""
        previous, self._provider = self._provider, provider
        try:
            yield self
        finally:
            self._provider = previous

    def _add(self, entry: ComponentEntry) -> None:
        with self._lock:
            names = self._entries.setdefault(entry.kind, {})
            existing = names.get(entry.name)
            if existing is not None:
                raise DuplicateComponentError(
                    f"{entry.kind} {entry.name!r} is registered twice: by {existing.provider} "
                    f"and by {entry.provider}. Uninstall or block one of them "
                    "(MODET_BLOCKED_PLUGINS)."
                )
            names[entry.name] = entry

    def register(self, kind: str, obj: T | None = None, *, name: str | None = None, provider: str | None = None) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``); without ``obj``, a decorator."""
        if obj is None:

            def decorator(target: T) -> T:
                self.register(kind, target, name=name, provider=provider)
                return target

            return decorator
        entry_name = name or getattr(obj, "__name__", None)
        if not entry_name:
            raise ValueError(f"cannot register {obj!r} under kind {kind!r} without a name")
        self._add(ComponentEntry(kind, entry_name, obj, provider or self._provider))
        return obj

    def register_lazy(self, kind: str, name: str, target: str, *, provider: str | None = None) -> None:
        """Register ``"package.module:attr"``, imported only when the component is first used."""
        self._add(ComponentEntry(kind, name, target, provider or self._provider))

    def unregister(self, kind: str, name: str) -> ComponentEntry:
        """Remove and return an entry (for notebooks that redefine a component)."""
        with self._lock:
            self._loaded.pop((kind, name), None)
            return self._entries.get(kind, {}).pop(name)

    def kinds(self) -> list[str]:
        return sorted(self._entries)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries.get(kind, {}))

    def entries(self, kind: str | None = None) -> list[ComponentEntry]:
        kinds = [kind] if kind is not None else self.kinds()
        return [self._entries[k][n] for k in kinds if k in self._entries for n in sorted(self._entries[k])]

    def entry(self, kind: str, name: str) -> ComponentEntry:
        try:
            return self._entries[kind][name]
        except KeyError:
            raise UnknownComponentError(self._unknown_message(kind, name)) from None

    def get(self, kind: str, name: str) -> Any:
        """The component registered as ``name``; the error lists what is known and who provides it."""
        key = (kind, name)
        if key not in self._loaded:
            self._loaded[key] = self.entry(kind, name).load()
        return self._loaded[key]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return name in self._entries.get(kind, {})

    def _unknown_message(self, kind: str, name: str) -> str:
        entries = self.entries(kind) if kind in self._entries else []
        if not entries:
            known_kinds = ", ".join(self.kinds()) or "none"
            return (
                f"no {kind} named {name!r}: nothing is registered under kind {kind!r} "
                f"(kinds with components: {known_kinds}). Is the package that provides it installed?"
            )
        known = "\n".join(f"  {e.name}  (from {e.provider})" for e in entries)
        return (
            f"no {kind} named {name!r}. Known {kind} names:\n{known}\n"
            "Install the plugin that provides it, or check MODET_BLOCKED_PLUGINS."
        )


_global_lock = threading.RLock()
_global: ComponentRegistry | None = None


def _provider_name(pm: Any, plugin: object) -> str:
    info = pm.info(plugin)
    return info.distribution or info.name


def build_registry(pm: Any) -> ComponentRegistry:
    """A registry filled by every plugin's ``modet_register_components``, with provenance."""
    registry = ComponentRegistry()
    for impl in reversed(pm.hook.modet_register_components.get_hookimpls()):
        with registry.provided_by(_provider_name(pm, impl.plugin)):
            impl.function(registry=registry)
    return registry


def get_registry() -> ComponentRegistry:
    """The process-wide registry, built from the installed plugins on first use."""
    global _global
    with _global_lock:
        if _global is None:
            from .plugins import get_plugin_manager

            _global = build_registry(get_plugin_manager())
        return _global


def _reset_global_registry() -> None:
    global _global
    with _global_lock:
        _global = None


class Registry:
    """detectron2-style registry object: a view on one kind of the global registry.

    ``BACKBONE_REGISTRY.register()`` decorates a class or function in a script or notebook;
    ``BACKBONE_REGISTRY.get(name)`` finds built-ins and plugins alike.
    """

    def __init__(self, kind: str, display_name: str | None = None) -> None:
        self.kind = kind
        self.display_name = display_name or kind.upper()

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Use as ``@REG.register()`` or call ``REG.register(obj)``."""
        registry = get_registry()

        def add(target: T) -> T:
            provider = getattr(target, "__module__", None) or SCRIPT_PROVIDER
            registry.register(self.kind, target, name=name, provider=provider)
            return target

        return add if obj is None else add(obj)

    def get(self, name: str) -> Any:
        return get_registry().get(self.kind, name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self.kind, name) in get_registry()

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        registry = get_registry()
        return iter([(name, registry.get(self.kind, name)) for name in registry.names(self.kind)])

    def __len__(self) -> int:
        return len(get_registry().names(self.kind))

    def __repr__(self) -> str:
        names = ", ".join(get_registry().names(self.kind))
        return f"Registry({self.display_name}: {names})"
