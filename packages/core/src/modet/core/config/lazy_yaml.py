"""YAML for saved LazyConfigs: written as plain data, read without running anything from the file.

Beyond plain YAML (and the restricted ``eval`` tag of :mod:`.safe_yaml`), a saved LazyConfig may
hold ``!!python/tuple`` and ``!!python/name:module.attr`` (a class or function passed as a value,
such as ``block_class``). A name is resolved with :func:`~modet.core.locate.locate`, the way a
``_target_`` string is: it imports an installed module and takes one attribute from it, and
nothing else. Every other Python tag (``python/object``, ``python/object/apply`` other than the
restricted eval, ``python/module``) is refused.
"""

from __future__ import annotations

import collections.abc as abc
import functools
from typing import Any, cast

import yaml

from ..locate import convert_target_to_string, locate
from .instantiate import build_partial, dump_dataclass, is_structured_type
from .safe_yaml import ConfigLoader

__all__ = ["LazyConfigDumper", "LazyConfigLoader", "to_plain_data"]

_NAME_TAG_PREFIX = "tag:yaml.org,2002:python/name:"


class LazyConfigLoader(ConfigLoader):
    """Safe YAML plus ``!!python/tuple`` and ``!!python/name:`` (resolved by ``locate``)."""


def _construct_tuple(loader: LazyConfigLoader, node: yaml.Node) -> tuple[Any, ...]:
    return tuple(loader.construct_sequence(cast(yaml.SequenceNode, node)))


def _construct_name(loader: LazyConfigLoader, suffix: str, node: yaml.Node) -> Any:
    if loader.construct_scalar(cast(yaml.ScalarNode, node)):
        raise yaml.constructor.ConstructorError(
            None, None, f"!!python/name:{suffix} must have an empty value", node.start_mark
        )
    try:
        return locate(suffix)
    except ImportError as exc:
        raise yaml.constructor.ConstructorError(None, None, str(exc), node.start_mark) from exc


LazyConfigLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)
LazyConfigLoader.add_multi_constructor(_NAME_TAG_PREFIX, _construct_name)


class LazyConfigDumper(yaml.SafeDumper):
    """SafeDumper that writes classes and functions as ``!!python/name:`` when ``locate`` finds them again."""


def _represent_name(dumper: LazyConfigDumper, obj: Any) -> yaml.Node:
    try:
        name = convert_target_to_string(obj)
        found = locate(name) is obj
    except (AttributeError, ImportError):
        found = False
    if not found:
        raise yaml.representer.RepresenterError(f"cannot write {obj!r} as YAML: it has no importable name")
    return dumper.represent_scalar(_NAME_TAG_PREFIX + name, "")


def _represent_unknown(dumper: LazyConfigDumper, obj: Any) -> yaml.Node:
    if callable(obj) and hasattr(obj, "__qualname__"):
        return _represent_name(dumper, obj)
    raise yaml.representer.RepresenterError(f"cannot write {obj!r} ({type(obj).__name__}) as YAML")


LazyConfigDumper.add_multi_representer(type, _represent_name)
LazyConfigDumper.add_multi_representer(object, _represent_unknown)


def to_plain_data(obj: Any) -> Any:
    """Containers made of YAML-friendly values: records and partials become ``_target_`` dicts, tuples lists.

    Dataclass and attrs records become ``{"_target_": ..., field: value}`` and ``functools.partial``
    objects a call of :func:`~.instantiate.build_partial`; ``instantiate`` turns both back into the
    object, so they survive a save and load without a Python tag.
    """
    if is_structured_type(obj) and not isinstance(obj, type):
        return to_plain_data(dump_dataclass(obj))
    if isinstance(obj, functools.partial):
        return {
            "_target_": convert_target_to_string(build_partial),
            "func": obj.func,
            "args": to_plain_data(list(obj.args)),
            "keywords": to_plain_data(dict(obj.keywords)),
        }
    if isinstance(obj, abc.Mapping):
        return {key: to_plain_data(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain_data(value) for value in obj]
    return obj
