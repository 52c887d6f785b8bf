"""The one plugin manager of modet, created lazily on first use, and everything derived from it.

Entry points of group ``modet`` are loaded once. Like pytest and tox:

- ``MODET_DISABLE_PLUGIN_AUTOLOAD=1`` loads no entry point (register plugins by hand);
- ``MODET_BLOCKED_PLUGINS=a,b`` skips the entry points (or distributions) named ``a`` and ``b``.

What modet builds from the plugins (the component registry, the default config, the
checkpoint formats, the subcommands) is *derived state*: :meth:`ModetPluginManager.derived`
builds it on first use and forgets it whenever a plugin is registered, unregistered or
blocked, so a plugin registered in-process is seen by the next ``get_cfg()`` or
``build_model()`` without a reset.

Every hook is called through :func:`call_hook`, which records which plugin gave what and
names the plugin (and its distribution) when an implementation raises.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.metadata
import inspect
import os
import threading
from collections.abc import Callable, Generator, Hashable, Iterator
from typing import Any, TypeVar

import attrs
import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "modet"
DISABLE_AUTOLOAD_ENV = "MODET_DISABLE_PLUGIN_AUTOLOAD"
BLOCKED_PLUGINS_ENV = "MODET_BLOCKED_PLUGINS"

T = TypeVar("T")

_lock = threading.RLock()
_manager: ModetPluginManager | None = None


@attrs.frozen
class PluginInfo:
    """One plugin: its name, the distribution that shipped it and its version."""

    name: str
    distribution: str | None
    version: str | None

    def describe(self) -> str:
        """``'name' (distribution version)``, or just ``'name'`` for a plugin registered by hand."""
        if self.distribution is None:
            return repr(self.name)
        return f"{self.name!r} ({self.distribution} {self.version})"


@attrs.frozen
class UnloadedPlugin:
    """An installed entry point that is not registered, and why (blocked, or autoload disabled)."""

    info: PluginInfo
    reason: str
    entry_point: Any = attrs.field(eq=False, repr=False)

    def load(self) -> Any | None:
        """The plugin module, imported without registering it; None if it cannot be imported."""
        try:
            return self.entry_point.load()
        except Exception:
            return None


@attrs.frozen
class HookOutput:
    """What one plugin's implementation of a hook returned."""

    plugin: PluginInfo
    value: Any


class PluginError(Exception):
    """An error about plugins whose message already names the plugins involved."""


class PluginLoadError(PluginError, ImportError):
    """An installed plugin's entry point could not be imported."""


class PluginHookError(PluginError, RuntimeError):
    """A plugin's hook implementation raised; the message names the plugin and its distribution."""


def _dist_info(dist: importlib.metadata.Distribution | None) -> tuple[str | None, str | None]:
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class ModetPluginManager(pluggy.PluginManager):
    """pluggy's manager that remembers which distribution shipped each plugin and owns the
    state derived from the registered plugins, forgotten whenever the set of plugins changes."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, importlib.metadata.Distribution] = {}
        self.unloaded: dict[str, UnloadedPlugin] = {}
        self._derived: dict[tuple[Any, ...], Any] = {}
        self._derived_lock = threading.RLock()

    # -- derived state ----------------------------------------------------------------------

    def derived(self, build: Callable[..., T], *args: Hashable) -> T:
        """``build(self, *args)``, computed once and kept until a plugin registers, unregisters
        or is blocked."""
        key = (build, *args)
        with self._derived_lock:
            if key not in self._derived:
                self._derived[key] = build(self, *args)
            return self._derived[key]

    def invalidate(self) -> None:
        """Forget all derived state (the next ``get_cfg()``/``get_registry()`` rebuilds it)."""
        with self._derived_lock:
            self._derived.clear()

    def register(self, plugin: object, name: str | None = None) -> str | None:
        plugin_name = super().register(plugin, name)
        if plugin_name is not None:
            for caller in self.get_hookcallers(plugin) or []:
                for impl in caller.get_hookimpls():
                    if impl.plugin is plugin:
                        # pluggy calls impl.function; the attributed wrapper tells call_hook
                        # which plugin is running and names it if it raises.
                        impl.function = _attributed(impl.function, self, plugin_name, caller.name)  # type: ignore[misc]
            self.invalidate()
        return plugin_name

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any | None:
        removed = super().unregister(plugin=plugin, name=name)
        self.invalidate()
        return removed

    def set_blocked(self, name: str) -> None:
        super().set_blocked(name)
        self.invalidate()

    def unblock(self, name: str) -> bool:
        unblocked = super().unblock(name)
        self.invalidate()
        return unblocked

    # -- provenance -------------------------------------------------------------------------

    def info(self, plugin: object) -> PluginInfo:
        """Name, distribution and version of a registered plugin object."""
        return self.info_by_name(self.get_name(plugin) or repr(plugin))

    def info_by_name(self, name: str) -> PluginInfo:
        distribution, version = _dist_info(self.distributions.get(name))
        return PluginInfo(name=name, distribution=distribution, version=version)

    def not_loaded_hint(self) -> str:
        """A sentence saying which installed plugins are not loaded and why ('' if none)."""
        if not self.unloaded:
            return ""
        listed = "; ".join(f"{u.info.describe()}: {u.reason}" for u in self.unloaded.values())
        return f" Installed plugins that are not loaded: {listed}."


def blocked_plugins() -> frozenset[str]:
    """Names listed in ``MODET_BLOCKED_PLUGINS`` (comma or whitespace separated)."""
    raw = os.environ.get(BLOCKED_PLUGINS_ENV, "")
    return frozenset(part for part in raw.replace(",", " ").split() if part)


def _autoload_disabled() -> bool:
    return os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _load_entry_points(pm: ModetPluginManager, *, autoload: bool) -> None:
    blocked = blocked_plugins()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        distribution, version = _dist_info(ep.dist)
        info = PluginInfo(name=ep.name, distribution=distribution, version=version)
        if not autoload:
            pm.unloaded[ep.name] = UnloadedPlugin(info, f"{DISABLE_AUTOLOAD_ENV}=1 is set", ep)
            continue
        if ep.name in blocked or (distribution is not None and distribution in blocked):
            pm.unloaded[ep.name] = UnloadedPlugin(info, f"blocked by {BLOCKED_PLUGINS_ENV}", ep)
            pm.set_blocked(ep.name)
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginLoadError(
                f"modet plugin {ep.name!r} ({ep.value}, from distribution {distribution}) failed to import: "
                f"{type(exc).__name__}: {exc}. Uninstall it, or set {BLOCKED_PLUGINS_ENV}={ep.name}"
            ) from exc
        if ep.dist is not None:
            pm.distributions[ep.name] = ep.dist
        pm.register(plugin, name=ep.name)


def create_plugin_manager(*, autoload: bool | None = None) -> ModetPluginManager:
    """A new manager with modet's hookspecs, entry points loaded unless disabled."""
    pm = ModetPluginManager()
    if autoload is None:
        autoload = not _autoload_disabled()
    _load_entry_points(pm, autoload=autoload)
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
    """Forget the manager and everything derived from it; the next use reloads the plugins.

    Meant for tests and for notebooks after ``pip install``-ing a plugin. Components
    registered in the script with ``@BACKBONE_REGISTRY.register()`` are kept: they belong to
    the script, not to the manager, and are added to every registry built from now on.
    """
    global _manager
    with _lock:
        _manager = None


def list_plugins() -> list[PluginInfo]:
    """Every plugin registered with the global manager, sorted by name."""
    pm = get_plugin_manager()
    infos = [pm.info(plugin) for plugin in pm.get_plugins()]
    return sorted(infos, key=lambda info: info.name)


# -- calling hooks --------------------------------------------------------------------------


@attrs.define
class _HookCall:
    """The hook call in progress: who answered what, and callbacks around each plugin."""

    pm: ModetPluginManager
    hook_name: str
    on_enter: Callable[[PluginInfo], None] | None
    on_exit: Callable[[PluginInfo], None] | None
    outputs: list[HookOutput] = attrs.Factory(list)


_active_call: contextvars.ContextVar[_HookCall | None] = contextvars.ContextVar("modet_hook_call", default=None)
_running_plugin: contextvars.ContextVar[PluginInfo | None] = contextvars.ContextVar(
    "modet_running_plugin", default=None
)


def running_plugin() -> PluginInfo | None:
    """The plugin whose hook implementation is running now (None outside hook calls)."""
    return _running_plugin.get()


def call_hook(
    hook_name: str,
    pm: ModetPluginManager | None = None,
    *,
    on_enter: Callable[[PluginInfo], None] | None = None,
    on_exit: Callable[[PluginInfo], None] | None = None,
    **kwargs: Any,
) -> list[HookOutput]:
    """Call a hook through pluggy and return each plugin's answer with the plugin that gave it.

    Wrapper hookimpls work as pluggy defines them. ``on_enter``/``on_exit`` run around each
    plugin's implementation (a config builder uses them to see which keys each plugin set).
    An implementation that raises is reported as :class:`PluginHookError` naming the plugin.
    """
    pm = pm or get_plugin_manager()
    call = _HookCall(pm, hook_name, on_enter, on_exit)
    token = _active_call.set(call)
    try:
        getattr(pm.hook, hook_name)(**kwargs)
    finally:
        _active_call.reset(token)
    return call.outputs


def collect_named(hook_name: str, expected: type, what: str, pm: ModetPluginManager) -> dict[str, Any]:
    """Merge the ``{name: value}`` dicts a hook's implementations return into one.

    A value that is not an instance of ``expected`` is a ``TypeError``, and a name two plugins
    return a ``ValueError``, each naming the plugins; ``what`` names the values in those errors
    ("subcommand", "inference mode").
    """
    merged: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for output in call_hook(hook_name, pm):
        plugin = output.plugin.describe()
        for name, value in (output.value or {}).items():
            if not isinstance(value, expected):
                raise TypeError(
                    f"modet plugin {plugin} returned {type(value).__name__} for {what} {name!r}; "
                    f"expected {expected.__name__}"
                )
            if name in owners:
                raise ValueError(f"modet {what} {name!r} is provided by both plugin {owners[name]} and plugin {plugin}")
            owners[name] = plugin
            merged[name] = value
    return merged


@contextlib.contextmanager
def _running(
    pm: ModetPluginManager, plugin_name: str, hook_name: str, thrown: BaseException | None = None
) -> Iterator[_HookCall | None]:
    info = pm.info_by_name(plugin_name)
    call = _active_call.get()
    if call is not None and (call.pm is not pm or call.hook_name != hook_name):
        call = None
    token = _running_plugin.set(info)
    try:
        if call is not None and call.on_enter is not None:
            call.on_enter(info)
        yield call
        if call is not None and call.on_exit is not None:
            call.on_exit(info)
    except (PluginError, StopIteration):
        raise
    except Exception as exc:
        if exc is thrown:  # pluggy threw another plugin's error into this wrapper: not this plugin's
            raise
        raise PluginHookError(
            f"modet plugin {info.describe()} failed in {hook_name}: {type(exc).__name__}: {exc}. "
            f"Fix or uninstall it, or set {BLOCKED_PLUGINS_ENV}={plugin_name}"
        ) from exc
    finally:
        _running_plugin.reset(token)


def _attributed(function: Callable[..., Any], pm: ModetPluginManager, plugin_name: str, hook_name: str) -> Any:
    """``function`` run as ``plugin_name``'s answer to ``hook_name`` (see :func:`call_hook`)."""
    if inspect.isgeneratorfunction(function):
        return _attributed_wrapper(function, pm, plugin_name, hook_name)

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        with _running(pm, plugin_name, hook_name) as active:
            value = function(*args, **kwargs)
        if active is not None:
            active.outputs.append(HookOutput(pm.info_by_name(plugin_name), value))
        return value

    return call


def _attributed_wrapper(
    function: Callable[..., Generator[Any, Any, Any]], pm: ModetPluginManager, plugin_name: str, hook_name: str
) -> Callable[..., Generator[Any, Any, Any]]:
    """A wrapper hookimpl (a generator) whose every step runs as ``plugin_name``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        with _running(pm, plugin_name, hook_name):
            inner = function(*args, **kwargs)
        step: Callable[[], Any] = functools.partial(inner.send, None)
        thrown: BaseException | None = None
        while True:
            try:
                with _running(pm, plugin_name, hook_name, thrown):
                    yielded = step()
            except StopIteration as stop:
                return stop.value
            try:
                sent = yield yielded
            except BaseException as exc:  # thrown in by pluggy: pass it to the wrapped generator
                step, thrown = functools.partial(inner.throw, exc), exc
            else:
                step, thrown = functools.partial(inner.send, sent), None

    return wrapper
