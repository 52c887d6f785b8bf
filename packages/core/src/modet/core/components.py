"""Named components by kind, with the distribution that provided each.

A :class:`ComponentRegistry` is a plain container; the process-wide one is built from the
plugins by :mod:`modet.core.registry`. A registration made while a plugin's
``modet_register_components`` runs is attributed to that plugin's distribution.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from .plugins import PluginError, running_plugin
from .suggest import did_you_mean

T = TypeVar("T")

#: detectron2's registries. A plugin adds a kind of its own with ``registry.add_kind(name)``;
#: a detectron2-style ``Registry("my_kind")`` declares its kind too.
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


class UnknownKindError(UnknownComponentError):
    """A kind that is neither detectron2's nor declared by a plugin (a misspelling, usually)."""


class DuplicateComponentError(PluginError, ValueError):
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


def _default_provider() -> str:
    plugin = running_plugin()
    if plugin is None:
        return SCRIPT_PROVIDER
    return plugin.distribution or plugin.name


class ComponentRegistry:
    """kinds -> names -> :class:`ComponentEntry`; only known kinds are accepted."""

    def __init__(self, kinds: Iterable[str] = KINDS) -> None:
        self._kinds: set[str] = set(kinds)
        self._entries: dict[str, dict[str, ComponentEntry]] = {}
        self._loaded: dict[tuple[str, str], Any] = {}
        self._lock = threading.RLock()
        #: ``(kind, name) -> sentence`` appended to "not found" errors (say, which plugin that is
        #: not loaded provides the name).
        self.explain_missing: Callable[[str, str], str] | None = None

    def add_kind(self, kind: str) -> None:
        """Declare a kind of component of one's own (detectron2's kinds are always known)."""
        if not kind or not isinstance(kind, str):
            raise ValueError(f"a component kind is a non-empty string, got {kind!r}")
        self._kinds.add(kind)

    def known_kinds(self) -> list[str]:
        return sorted(self._kinds)

    def _check_kind(self, kind: str) -> None:
        if kind not in self._kinds:
            raise UnknownKindError(
                f"unknown component kind {kind!r}.{did_you_mean(kind, self._kinds)} "
                f"Known kinds: {', '.join(self.known_kinds())}. A plugin declares a new kind with "
                "registry.add_kind(kind)."
            )

    def _add(self, entry: ComponentEntry) -> None:
        self._check_kind(entry.kind)
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
        """Register ``obj`` under ``name`` (default: its ``__name__``); without ``obj``, a decorator.

        The provider defaults to the distribution of the plugin whose hook is running, or
        ``"__main__"`` outside hook calls.
        """
        if obj is None:

            def decorator(target: T) -> T:
                self.register(kind, target, name=name, provider=provider)
                return target

            return decorator
        entry_name = name or getattr(obj, "__name__", None)
        if not entry_name:
            raise ValueError(f"cannot register {obj!r} under kind {kind!r} without a name")
        self._add(ComponentEntry(kind, entry_name, obj, provider or _default_provider()))
        return obj

    def register_lazy(self, kind: str, name: str, target: str, *, provider: str | None = None) -> None:
        """Register ``"package.module:attr"``, imported only when the component is first used."""
        self._add(ComponentEntry(kind, name, target, provider or _default_provider()))

    def add_entry(self, entry: ComponentEntry) -> None:
        """Add an entry as it is (provider included)."""
        self._add(entry)

    def unregister(self, kind: str, name: str) -> ComponentEntry:
        """Remove and return an entry."""
        with self._lock:
            self._loaded.pop((kind, name), None)
            return self._entries.get(kind, {}).pop(name)

    def kinds(self) -> list[str]:
        """The kinds that have at least one component."""
        return sorted(kind for kind, names in self._entries.items() if names)

    def names(self, kind: str) -> list[str]:
        return sorted(self._entries.get(kind, {}))

    def entries(self, kind: str | None = None) -> list[ComponentEntry]:
        kinds = [kind] if kind is not None else self.kinds()
        return [self._entries[k][n] for k in kinds if k in self._entries for n in sorted(self._entries[k])]

    def entry(self, kind: str, name: str) -> ComponentEntry:
        self._check_kind(kind)
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
        hint = self.explain_missing(kind, name) if self.explain_missing is not None else ""
        entries = self.entries(kind)
        if not entries:
            known_kinds = ", ".join(self.kinds()) or "none"
            return (
                f"no {kind} named {name!r}: nothing is registered under kind {kind!r} "
                f"(kinds with components: {known_kinds}). Is the package that provides it installed?{hint}"
            )
        known = "\n".join(f"  {e.name}  (from {e.provider})" for e in entries)
        return (
            f"no {kind} named {name!r}.{did_you_mean(name, self.names(kind))} Known {kind} names:\n{known}\n"
            f"Install the plugin that provides it, or check MODET_BLOCKED_PLUGINS.{hint}"
        )
