"""Config keys that the loaded plugins do not define: carry them, or refuse them with a reason.

A detectron2 YAML names keys of every modet package. With only some packages installed (a
model-zoo YAML read with modet-modeling alone) or some plugins blocked, a key that belongs to
a package or plugin that is not loaded is *carried*: kept as it is, with a log line. Any other
unknown key is a misspelling: an error with a "did you mean".

Two sources say who defines a key that is not loaded:

- :data:`FAMILY_KEYS`, the key prefixes of modet's own distributions (a distribution that is
  not installed cannot be asked); the integration tests check it against the keys each
  package really defines;
- the plugins that are installed but not loaded (blocked, or autoload disabled), whose
  ``modet_add_config`` is run on a scratch config when an unknown key needs explaining.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

import attrs

from ..plugins import ModetPluginManager, PluginInfo

#: Key prefix -> the modet distribution that defines the keys under it (longest prefix wins).
#: modet-core's own keys are not listed: modet-core is always there.
FAMILY_KEYS: dict[str, str] = {
    "MODEL": "modet-modeling",
    "MODEL.LOAD_PROPOSALS": "modet-data",
    "MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE": "modet-data",
    "INPUT": "modet-data",
    "DATASETS": "modet-data",
    "DATALOADER": "modet-data",
    "SOLVER": "modet-engine",
    "TEST": "modet-modeling",
    "TEST.EVAL_PERIOD": "modet-engine",
    "TEST.PRECISE_BN": "modet-engine",
    "TEST.EXPECTED_RESULTS": "modet-evaluation",
    "TEST.KEYPOINT_OKS_SIGMAS": "modet-evaluation",
}


def family_owner(full_key: str) -> str | None:
    """The modet distribution :data:`FAMILY_KEYS` says defines ``full_key`` (longest prefix)."""
    parts = full_key.split(".")
    for end in range(len(parts), 0, -1):
        owner = FAMILY_KEYS.get(".".join(parts[:end]))
        if owner is not None:
            return owner
    return None


def family_names_under(prefix: str) -> list[str]:
    """The names :data:`FAMILY_KEYS` lists directly under ``prefix`` ('' for the top level)."""
    return [key.rpartition(".")[2] for key in FAMILY_KEYS if key.rpartition(".")[0] == prefix]


@attrs.frozen
class _Absent:
    """Who would define a key if it were loaded, and why it is not."""

    provider: str
    reason: str

    def sentence(self) -> str:
        return f"it is defined by {self.provider}, which is not loaded ({self.reason})"


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    keys = []
    for key, value in node.items():
        full = f"{prefix}{key}"
        keys.append(full)
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, full + "."))
    return keys


# Set while unloaded plugins run on a scratch config, so that their own missing-key errors do
# not start another probe.
_probing: contextvars.ContextVar[bool] = contextvars.ContextVar("modet_probing_unloaded_plugins", default=False)


def unloaded_plugin_keys(pm: ModetPluginManager, node_type: Callable[[], Any]) -> dict[str, _Absent]:
    """Every key (and section) the installed-but-not-loaded plugins would define."""
    token = _probing.set(True)
    try:
        return _probe(pm, node_type)
    finally:
        _probing.reset(token)


def _probe(pm: ModetPluginManager, node_type: Callable[[], Any]) -> dict[str, _Absent]:
    found: dict[str, _Absent] = {}
    for unloaded in pm.unloaded.values():
        add_config = getattr(unloaded.load(), "modet_add_config", None)
        if add_config is None:
            continue
        scratch = node_type()
        try:
            add_config(cfg=scratch)
        except Exception:  # only a hint: a plugin that cannot run here defines nothing we can name
            continue
        for key in _leaf_keys(scratch):
            found.setdefault(key, _Absent(f"plugin {unloaded.info.describe()}", unloaded.reason))
    return found


def _loaded_distributions(pm: ModetPluginManager) -> set[str]:
    infos: list[PluginInfo] = [pm.info(plugin) for plugin in pm.get_plugins()]
    return {info.distribution for info in infos if info.distribution is not None}


def _why_not_loaded(pm: ModetPluginManager, distribution: str) -> str:
    for unloaded in pm.unloaded.values():
        if unloaded.info.distribution == distribution:
            return unloaded.reason
    return "not installed"


def absent_owner(full_key: str, pm: ModetPluginManager, node_type: Callable[[], Any]) -> _Absent | None:
    """Who defines ``full_key`` if a package or plugin that is not loaded does; else None."""
    family = family_owner(full_key)
    if family is not None and family not in _loaded_distributions(pm):
        return _Absent(family, _why_not_loaded(pm, family))
    if not pm.unloaded or _probing.get():
        return None
    plugin_keys = pm.derived(unloaded_plugin_keys, node_type)
    parts = full_key.split(".")
    for end in range(len(parts), 0, -1):
        owner = plugin_keys.get(".".join(parts[:end]))
        if owner is not None:
            return owner
    return None


def explain_missing(name: str, pm: ModetPluginManager, node_type: Callable[[], Any]) -> str:
    """Why a config has no key ``name`` (a section or leaf name, any depth): who would define it."""
    candidates = [key for key in FAMILY_KEYS if name in key.split(".")]
    for key in candidates:
        owner = absent_owner(key, pm, node_type)
        if owner is not None:
            return f" {name}: {owner.sentence()}."
    if pm.unloaded and not _probing.get():
        plugin_keys = pm.derived(unloaded_plugin_keys, node_type)
        for key, owner in plugin_keys.items():
            if name in key.split("."):
                return f" {name}: {owner.sentence()}."
    return pm.not_loaded_hint()
