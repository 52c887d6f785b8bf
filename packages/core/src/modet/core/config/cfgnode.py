"""detectron2's ``CfgNode``: yacs plus ``_BASE_`` inheritance and safe YAML loading."""

from __future__ import annotations

import copy
import logging
import os
import threading
from typing import Any

import yaml
from yacs.config import CfgNode as _YacsCfgNode

from .safe_yaml import UnsafeExpressionError, load_yaml

BASE_KEY = "_BASE_"
LATEST_VERSION = 2

logger = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config file that cannot be read, with the file named in the message."""


def _merge_dicts(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


class CfgNode(_YacsCfgNode):
    """Attribute-access config tree that reads detectron2 YAML files.

    Differences from plain yacs: ``_BASE_`` files are merged first (recursively, relative to the
    including file), YAML is read safely, and a top-level section that no installed package
    defines (``SOLVER`` without modet-engine, say) is carried along instead of refused.
    """

    @classmethod
    def load_yaml_with_base(cls, filename: str | os.PathLike[str], allow_unsafe: bool = False) -> dict[str, Any]:
        """The file's content as a dict, with its ``_BASE_`` chain merged in.

        ``allow_unsafe`` is accepted for detectron2 compatibility and ignored: loading is
        always safe.
        """
        del allow_unsafe
        filename = os.fspath(filename)
        try:
            with open(filename, encoding="utf-8") as f:
                cfg = load_yaml(f)
        except FileNotFoundError:
            raise FileNotFoundError(f"config file not found: {filename}") from None
        except (yaml.YAMLError, UnsafeExpressionError) as exc:
            raise ConfigError(f"cannot read config file {filename}: {exc}") from exc
        if cfg is None:
            return {}
        if not isinstance(cfg, dict):
            raise ConfigError(f"config file {filename} must hold a mapping, not {type(cfg).__name__}")
        base = cfg.pop(BASE_KEY, None)
        if base is None:
            return cfg
        bases = [base] if isinstance(base, str) else list(base)
        merged: dict[str, Any] = {}
        for base_file in bases:
            base_path = os.path.expanduser(base_file)
            if not os.path.isabs(base_path) and "://" not in base_path:
                base_path = os.path.join(os.path.dirname(filename), base_path)
            merged = _merge_dicts(merged, cls.load_yaml_with_base(base_path))
        return _merge_dicts(merged, cfg)

    def merge_from_file(self, cfg_filename: str | os.PathLike[str], allow_unsafe: bool = False) -> None:
        """Merge a detectron2/modet YAML file (with its ``_BASE_`` chain) into this config.

        A file of an older ``VERSION`` (0 or 1; guessed from its keys when it has none) is read
        as detectron2 reads it: merged into this config's defaults downgraded to that version,
        then upgraded back (see :mod:`.compat`).
        """
        from .compat import downgrade_config, guess_version, upgrade_config

        filename = os.fspath(cfg_filename)
        loaded = self.load_yaml_with_base(filename, allow_unsafe=allow_unsafe)
        version = loaded.get("VERSION")
        if version is None:
            version = guess_version(type(self)(loaded), filename)
        latest = self.get("VERSION", LATEST_VERSION)
        if not isinstance(version, int) or not 0 <= version <= latest:
            raise ConfigError(f"{filename} has VERSION {version!r}; modet reads configs of VERSION 0 to {latest}")
        if version == latest:
            self.merge_from_dict(loaded)
            return
        if self.is_frozen():
            raise AttributeError(f"cannot merge {filename} into a frozen config")
        logger.warning(
            "Loading an old v%d config file '%s' by automatically upgrading to v%d.", version, filename, latest
        )
        old_self = downgrade_config(self, to_version=version)
        old_self.merge_from_dict(loaded)
        upgraded = upgrade_config(old_self, to_version=latest)
        self.clear()
        self.update(upgraded)

    def merge_from_dict(self, loaded: dict[str, Any]) -> None:
        """Merge a plain dict, carrying top-level sections no installed package defines."""
        self.merge_from_other_cfg(type(self)(loaded))

    def merge_from_other_cfg(self, cfg_other: _YacsCfgNode) -> None:
        self._carry_unknown_sections(cfg_other)
        super().merge_from_other_cfg(cfg_other)

    def merge_from_list(self, cfg_list: list[Any]) -> None:
        """Merge ``["KEY.PATH", "value", ...]`` (values parsed as Python literals where they are)."""
        if len(cfg_list) % 2 != 0:
            raise ValueError(f"override list must hold KEY VALUE pairs, got an odd number of items: {cfg_list}")
        for full_key in cfg_list[0::2]:
            node: Any = self
            for part in str(full_key).split("."):
                if not isinstance(node, _YacsCfgNode) or part not in node:
                    raise KeyError(f"Non-existent config key: {full_key}")
                node = node[part]
        super().merge_from_list(cfg_list)

    def _carry_unknown_sections(self, loaded: Any) -> None:
        for key, value in loaded.items():
            if key in self or not isinstance(value, dict):
                continue
            logger.warning(
                "config section %s is not defined by any installed modet package; keeping its values as they are",
                key,
            )
            self[key] = type(self)(new_allowed=True)

    def dump(self, **kwargs: Any) -> str:
        """YAML text of the config (``sort_keys`` like detectron2's dumps)."""
        kwargs.setdefault("sort_keys", True)
        return super().dump(**kwargs)

    def clone(self) -> CfgNode:
        return copy.deepcopy(self)

    def __setattr__(self, name: str, val: Any) -> None:
        if name.startswith("COMPUTED_") and name in self and self[name] != val:
            raise KeyError(f"computed config key {name!r} is set to {self[name]!r} and cannot change to {val!r}")
        super().__setattr__(name, val)


_defaults_lock = threading.RLock()
_cached_defaults: CfgNode | None = None


def _build_defaults() -> CfgNode:
    from ..plugins import get_plugin_manager

    cfg = CfgNode()
    get_plugin_manager().hook.modet_add_config(cfg=cfg)
    return cfg


def get_cfg() -> CfgNode:
    """A fresh copy of the defaults of every installed modet package and plugin."""
    global _cached_defaults
    with _defaults_lock:
        if _cached_defaults is None:
            _cached_defaults = _build_defaults()
        return _cached_defaults.clone()


def _reset_cached_defaults() -> None:
    global _cached_defaults
    with _defaults_lock:
        _cached_defaults = None


def section(cfg: CfgNode, dotted: str) -> CfgNode:
    """The node at ``dotted`` (``"MODEL.RPN"``), created empty where missing.

    Lets several packages add keys to one section without knowing who came first.
    """
    node = cfg
    for part in dotted.split("."):
        if part not in node:
            node[part] = CfgNode()
        node = node[part]
    return node
