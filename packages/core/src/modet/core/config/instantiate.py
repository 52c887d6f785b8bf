"""``instantiate``: build the objects a LazyConfig describes (detectron2's ``detectron2.config.instantiate``)."""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import functools
import logging
from typing import Any

import attrs
from omegaconf import DictConfig, ListConfig, OmegaConf

from ..locate import convert_target_to_string, locate

__all__ = ["build_partial", "dump_dataclass", "instantiate", "is_structured_type"]

logger = logging.getLogger(__name__)


def is_structured_type(obj: Any) -> bool:
    """Whether ``obj`` is a dataclass or attrs class (or an instance of one): a typed record."""
    cls = obj if isinstance(obj, type) else type(obj)
    return dataclasses.is_dataclass(cls) or attrs.has(cls)


def dump_dataclass(obj: Any) -> dict[str, Any]:
    """A dataclass or attrs instance as a ``{"_target_": ..., field: value}`` dict that
    :func:`instantiate` turns back into an equal object (nested records included)."""
    if isinstance(obj, type) or not is_structured_type(obj):
        raise TypeError(f"dump_dataclass() needs a dataclass or attrs instance, got {obj!r}")
    names = (
        [f.name for f in dataclasses.fields(obj)]
        if dataclasses.is_dataclass(obj)
        else [a.name for a in attrs.fields(type(obj))]
    )
    result: dict[str, Any] = {"_target_": convert_target_to_string(type(obj))}
    for name in names:
        value = getattr(obj, name)
        if is_structured_type(value) and not isinstance(value, type):
            value = dump_dataclass(value)
        elif isinstance(value, (list, tuple)):
            value = [dump_dataclass(x) if is_structured_type(x) and not isinstance(x, type) else x for x in value]
        result[name] = value
    return result


def build_partial(
    func: abc.Callable[..., Any], args: abc.Sequence[Any] = (), keywords: abc.Mapping[str, Any] | None = None
) -> functools.partial[Any]:
    """``functools.partial(func, *args, **keywords)``: how a saved LazyConfig writes a partial object."""
    return functools.partial(func, *args, **dict(keywords or {}))


def _target_name(target: Any) -> str:
    try:
        return f"{target.__module__}.{target.__qualname__}"
    except AttributeError:  # any callable may be a target
        return repr(target)


def instantiate(cfg: Any) -> Any:
    """Recursively build what ``cfg`` describes.

    A mapping with a ``_target_`` key is a call: its other values are instantiated first, then
    passed as keyword arguments to the target (a callable, or a dotted name resolved with
    ``locate``). Lists are instantiated element by element; a config node backed by a dataclass
    or attrs class becomes that object; anything else is returned as it is.

    A config from a file may name any importable callable as ``_target_``, and instantiating it
    calls that callable: instantiate only configs you trust.
    """
    if isinstance(cfg, ListConfig):
        return ListConfig([instantiate(x) for x in cfg], flags={"allow_objects": True})
    if isinstance(cfg, list):
        # many modet classes take lists of objects (ResNet stages, DatasetMapper augmentations)
        return [instantiate(x) for x in cfg]
    if isinstance(cfg, DictConfig) and is_structured_type(OmegaConf.get_type(cfg)):
        return OmegaConf.to_object(cfg)
    if not (isinstance(cfg, abc.Mapping) and "_target_" in cfg):
        return cfg

    kwargs = {key: instantiate(value) for key, value in cfg.items()}
    target = instantiate(kwargs.pop("_target_"))
    if isinstance(target, str):
        name = target
        target = locate(name)
    else:
        name = _target_name(target)
    if not callable(target):
        raise TypeError(f"_target_ {target!r} is not callable, so it cannot be instantiated")
    try:
        return target(**kwargs)
    except TypeError:
        logger.error("Error when instantiating %s!", name)
        raise
