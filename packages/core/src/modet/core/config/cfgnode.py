"""detectron2's ``CfgNode``: yacs plus ``_BASE_`` inheritance, safe YAML and checked values."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Mapping
from typing import Any

import yaml
from yacs.config import CfgNode as _YacsCfgNode

from ..plugins import get_plugin_manager
from ..suggest import did_you_mean
from . import absent
from .checks import Check, check_value
from .compat import LATEST_VERSION, downgrade_config, guess_version, upgrade_config
from .errors import ConfigError, ConfigValueError
from .safe_yaml import UnsafeExpressionError, load_yaml

BASE_KEY = "_BASE_"
_CHECKS = "__checks__"  # in a node's __dict__: leaf name -> (full key, check)

logger = logging.getLogger(__name__)


def _merge_dicts(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_dicts(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_yaml(filename: str) -> Any:
    try:
        with open(filename, encoding="utf-8") as f:
            return load_yaml(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {filename}") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {filename} is a directory, not a YAML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"cannot read config file {filename}: it is not UTF-8 text (byte {exc.object[exc.start]:#04x} "
            f"at offset {exc.start}); is it a binary file?"
        ) from None
    except (yaml.YAMLError, UnsafeExpressionError) as exc:
        raise ConfigError(f"cannot read config file {filename}: {exc}") from exc


class CfgNode(_YacsCfgNode):
    """Attribute-access config tree that reads detectron2 YAML files.

    Differences from plain yacs: ``_BASE_`` files are merged first (recursively, relative to the
    including file), YAML is read safely, values are checked against the ranges packages
    declare (:meth:`add_checks`), a frozen config refuses every merge, and a key that no loaded
    package defines is an error with a "did you mean" unless a package or plugin that is not
    loaded defines it (then it is carried along, see :mod:`.absent`).
    """

    # -- reading files ----------------------------------------------------------------------

    @classmethod
    def load_yaml_with_base(
        cls, filename: str | os.PathLike[str], allow_unsafe: bool = False, *, _including: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """The file's content as a dict, with its ``_BASE_`` chain merged in.

        ``allow_unsafe`` is accepted for detectron2 compatibility and ignored: loading is
        always safe.
        """
        del allow_unsafe
        filename = os.fspath(filename)
        real = os.path.realpath(filename)
        if real in _including:
            chain = " -> ".join([*_including[_including.index(real) :], real])
            raise ConfigError(f"_BASE_ files include each other in a cycle: {chain}")
        cfg = _read_yaml(filename)
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
            merged = _merge_dicts(merged, cls.load_yaml_with_base(base_path, _including=(*_including, real)))
        return _merge_dicts(merged, cfg)

    def merge_from_file(self, cfg_filename: str | os.PathLike[str], allow_unsafe: bool = False) -> None:
        """Merge a detectron2/modet YAML file (with its ``_BASE_`` chain) into this config.

        A file of an older ``VERSION`` (0 or 1; guessed from its keys when it has none) is read
        as detectron2 reads it: merged into this config's defaults downgraded to that version,
        then upgraded back (see :mod:`.compat`). Errors name the file.
        """
        filename = os.fspath(cfg_filename)
        self._refuse_if_frozen(f"merge {filename} into it")
        loaded = self.load_yaml_with_base(filename, allow_unsafe=allow_unsafe)
        version = loaded.get("VERSION")
        if version is None:
            version = guess_version(type(self)(loaded), filename)
        latest = self.get("VERSION", LATEST_VERSION)
        if not isinstance(version, int) or not 0 <= version <= latest:
            raise ConfigError(f"{filename} has VERSION {version!r}; modet reads configs of VERSION 0 to {latest}")
        try:
            if version == latest:
                self.merge_from_dict(loaded)
                return
            logger.warning(
                "Loading an old v%d config file '%s' by automatically upgrading to v%d.", version, filename, latest
            )
            old_self = downgrade_config(self, to_version=version)
            old_self.merge_from_dict(loaded)
            upgraded = upgrade_config(old_self, to_version=latest)
        except KeyError as exc:
            raise KeyError(f"{filename}: {exc.args[0]}") from None
        except ValueError as exc:  # a value of the wrong type (yacs) or out of range (checks)
            raise ConfigValueError(f"{filename}: {exc}") from None
        self.clear()
        self.update(upgraded)

    # -- merging ----------------------------------------------------------------------------

    def merge_from_dict(self, loaded: Mapping[str, Any]) -> None:
        """Merge a plain dict (the content of a YAML file)."""
        self.merge_from_other_cfg(type(self)(dict(loaded)))

    def merge_from_other_cfg(self, cfg_other: _YacsCfgNode) -> None:
        self._refuse_if_frozen("merge another config into it")
        carried: dict[Any, list[str]] = {}
        self._admit_unknown_keys(cfg_other, (), carried)
        for owner, keys in carried.items():
            logger.warning(
                "config keys of %s, which is not loaded (%s), kept as they are: %s",
                owner.provider,
                owner.reason,
                ", ".join(keys),
            )
        super().merge_from_other_cfg(cfg_other)

    def merge_from_list(self, cfg_list: list[Any]) -> None:
        """Merge ``["KEY.PATH", "value", ...]`` (values parsed as Python literals where they are)."""
        self._refuse_if_frozen("merge_from_list into it")
        if len(cfg_list) % 2 != 0:
            raise ValueError(f"override list must hold KEY VALUE pairs, got an odd number of items: {cfg_list}")
        for full_key in cfg_list[0::2]:
            node: Any = self
            parts = str(full_key).split(".")
            for depth, part in enumerate(parts):
                if not isinstance(node, _YacsCfgNode) or part not in node:
                    known = node.keys() if isinstance(node, _YacsCfgNode) else ()
                    raise KeyError(self._unknown_key_message(full_key, part, known, parts[: depth + 1]))
                node = node[part]
        super().merge_from_list(cfg_list)

    def _refuse_if_frozen(self, action: str) -> None:
        if self.is_frozen():
            raise AttributeError(f"the config is frozen: cannot {action}; call cfg.defrost() first")

    def _admit_unknown_keys(
        self, loaded: Mapping[str, Any], path: tuple[str, ...], carried: dict[Any, list[str]]
    ) -> None:
        """Carry the keys of packages/plugins that are not loaded; refuse misspellings."""
        if self.is_new_allowed():
            return
        for key, value in loaded.items():
            full_key = ".".join((*path, key))
            if key in self:
                child = self[key]
                if isinstance(child, CfgNode) and isinstance(value, Mapping):
                    child._admit_unknown_keys(value, (*path, key), carried)
                continue
            owner = absent.absent_owner(full_key, get_plugin_manager(), CfgNode)
            if owner is None:
                raise KeyError(self._unknown_key_message(full_key, key, self.keys(), [*path, key]))
            carried.setdefault(owner, []).append(full_key)
            if isinstance(value, Mapping):
                super().__setitem__(key, type(self)(new_allowed=True))
            else:
                super().__setitem__(key, self._decode_cfg_value(value))

    @staticmethod
    def _unknown_key_message(full_key: str, key: str, known: Any, parts: list[str]) -> str:
        family = absent.family_names_under(".".join(parts[:-1]))
        hint = did_you_mean(key, [*known, *family]) or absent.explain_missing(key, get_plugin_manager(), CfgNode)
        return f"Non-existent config key: {full_key}.{hint}"

    # -- checked values ---------------------------------------------------------------------

    def add_checks(self, checks: Mapping[str, Check]) -> None:
        """Declare value checks for existing keys (``{"MODEL.ROI_HEADS.NUM_CLASSES": Range(min=1)}``).

        The current values are checked at once; every later change is checked too.
        """
        for full_key, check in checks.items():
            *parents, leaf = full_key.split(".")
            node: Any = self
            for part in parents:
                node = node.get(part)
                if not isinstance(node, CfgNode):
                    raise KeyError(f"cannot add a check for {full_key}: the config has no section {part!r}")
            if leaf not in node:
                raise KeyError(f"cannot add a check for {full_key}: the config has no such key")
            check_value(full_key, node[leaf], check)
            node.__dict__.setdefault(_CHECKS, {})[leaf] = (full_key, check)

    def __setitem__(self, key: str, value: Any) -> None:
        checks = self.__dict__.get(_CHECKS)
        if checks and key in checks:
            full_key, check = checks[key]
            check_value(full_key, value, check)
        super().__setitem__(key, value)

    def __setattr__(self, name: str, val: Any) -> None:
        if name.startswith("COMPUTED_") and name in self and self[name] != val:
            raise KeyError(f"computed config key {name!r} is set to {self[name]!r} and cannot change to {val!r}")
        super().__setattr__(name, val)

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        if name.startswith("_") or not name.isupper():
            raise AttributeError(name)
        raise AttributeError(
            f"config has no key {name!r}.{absent.explain_missing(name, get_plugin_manager(), CfgNode)}"
        )

    # -- output -----------------------------------------------------------------------------

    def dump(self, **kwargs: Any) -> str:
        """YAML text of the config (``sort_keys`` like detectron2's dumps)."""
        kwargs.setdefault("sort_keys", True)
        return super().dump(**kwargs)

    def clone(self) -> CfgNode:
        return copy.deepcopy(self)


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
