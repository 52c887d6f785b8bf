"""detectron2's LazyConfig: configs as Python files of ``LazyCall`` objects, on omegaconf.

``LazyCall(cls)(arg=...)`` records a call without making it; ``instantiate`` makes it later, after
the user has edited the arguments. ``LazyConfig`` loads such configs from ``.py`` files (Python
code: loading one runs it, so load only files you trust) or from ``.yaml`` files (read as data,
without running anything), saves them as YAML, applies ``key=value`` overrides and prints them
as Python-like text.
"""

from __future__ import annotations

import ast
import collections.abc as abc
import contextlib
import inspect
import logging
import os
import tempfile
from copy import deepcopy
from typing import Any

import cloudpickle
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf, SCMode

from ..locate import convert_target_to_string
from .instantiate import is_structured_type
from .lazy_import import as_config, run_config_file
from .lazy_yaml import LazyConfigDumper, LazyConfigLoader, to_plain_data
from .pyformat import format_config_as_python

__all__ = ["LazyCall", "LazyConfig"]

logger = logging.getLogger(__name__)


class LazyCall:
    """Wrap a callable so that calling it records the call instead of making it.

    ``LazyCall(nn.Conv2d)(in_channels=32, out_channels=32)`` is a ``DictConfig`` with
    ``_target_=nn.Conv2d`` and the keyword arguments; edit it, then ``instantiate`` it. Only
    keyword arguments are accepted.
    """

    def __init__(self, target: Any) -> None:
        if not (callable(target) or isinstance(target, (str, abc.Mapping))):
            raise TypeError(f"target of LazyCall must be a callable or defines a callable! Got {target}")
        self._target = target

    def __call__(self, **kwargs: Any) -> DictConfig:
        target = self._target
        if isinstance(target, type) and is_structured_type(target):
            # omegaconf would read a dataclass/attrs type as a schema, not hold it: name it instead
            target = convert_target_to_string(target)
        kwargs["_target_"] = target
        return DictConfig(content=kwargs, flags={"allow_objects": True})


def _visit_dict_configs(cfg: Any, func: abc.Callable[[DictConfig], None]) -> None:
    if isinstance(cfg, DictConfig):
        func(cfg)
        for value in cfg.values():
            _visit_dict_configs(value, func)
    elif isinstance(cfg, ListConfig):
        for value in cfg:
            _visit_dict_configs(value, func)


def _name_targets(node: DictConfig) -> None:
    if "_target_" in node and callable(node._target_):
        with contextlib.suppress(AttributeError):  # a target without a name (a partial) stays an object
            node._target_ = convert_target_to_string(node._target_)


def _write_atomically(filename: str, data: bytes) -> None:
    """Write ``data`` to ``filename`` through a temporary file in the same folder, so a failure
    never leaves a half-written file behind."""
    directory = os.path.dirname(os.path.abspath(filename))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(filename)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, filename)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _parse_override_value(text: str) -> Any:
    """An override's value as hydra's grammar reads the common cases: Python literals and
    quoted strings, ``true``/``false``/``null``, ``[a, b]`` lists; anything else is a string."""
    text = text.strip()
    if not text:
        return ""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    if text[0] in "[{":
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        if isinstance(value, (list, dict)):
            return value
    return text


def _update(cfg: Any, key: str, value: Any) -> None:
    parts = key.split(".")
    for idx in range(1, len(parts)):
        prefix = ".".join(parts[:idx])
        node = OmegaConf.select(cfg, prefix, default=None)
        if node is None:
            break
        if not OmegaConf.is_config(node):
            raise KeyError(f"Trying to update key {key}, but {prefix} is not a config, but has type {type(node)}.")
    OmegaConf.update(cfg, key, value, merge=True)


class LazyConfig:
    """Load, save, override and print omegaconf configs that hold ``LazyCall`` objects."""

    @staticmethod
    def load_rel(filename: str, keys: str | tuple[str, ...] | None = None) -> Any:
        """:meth:`load` with ``filename`` relative to the calling file (a relative import by string)."""
        frame = inspect.currentframe()
        caller_file = frame.f_back.f_code.co_filename if frame is not None and frame.f_back is not None else ""
        if not caller_file or caller_file.startswith("<"):
            raise RuntimeError("LazyConfig.load_rel must be called from a file, so that a path can be relative to it")
        return LazyConfig.load(os.path.join(os.path.dirname(caller_file), filename), keys)

    @staticmethod
    def load(filename: str | os.PathLike[str], keys: str | tuple[str, ...] | None = None) -> Any:
        """Load a config file: ``.py`` (runs it: Python code, trusted files only) or ``.yaml``/``.yml``
        (read as data: nothing in it runs).

        Args:
            filename: path of the file (absolute, or relative to the working directory).
            keys: a name (or tuple of names) to return; by default a ``DictConfig`` of every
                public top-level value of the file that is a config (dict, ``DictConfig``, ``ListConfig``).
        """
        filename = os.fspath(filename).replace("/./", "/")
        extension = os.path.splitext(filename)[1]
        if extension not in (".py", ".yaml", ".yml"):
            raise ValueError(f"Config file {filename} has to be a python or yaml file.")
        if extension == ".py":
            namespace: Any = run_config_file(filename)
        else:
            try:
                with open(filename, encoding="utf-8") as f:
                    content = yaml.load(f, Loader=LazyConfigLoader)
            except FileNotFoundError:
                raise FileNotFoundError(f"config file not found: {filename}") from None
            except yaml.YAMLError as exc:
                raise ValueError(f"cannot read LazyConfig file {filename}: {exc}") from exc
            namespace = OmegaConf.create(content, flags={"allow_objects": True})

        if keys is not None:
            missing = [k for k in ([keys] if isinstance(keys, str) else keys) if k not in namespace]
            if missing:
                raise KeyError(f"config file {filename} defines no {', '.join(map(repr, missing))}")
            if isinstance(keys, str):
                return as_config(namespace[keys])
            return tuple(as_config(namespace[k]) for k in keys)
        if extension == ".py":
            return DictConfig(
                {
                    name: as_config(value)
                    for name, value in namespace.items()
                    if isinstance(value, (DictConfig, ListConfig, dict)) and not name.startswith("_")
                },
                flags={"allow_objects": True},
            )
        return namespace

    @staticmethod
    def save(cfg: Any, filename: str | os.PathLike[str]) -> None:
        """Save ``cfg`` as YAML that :meth:`load` reads back (interpolations kept as ``${...}``).

        Targets are written by name, dataclass/attrs records and partials as ``_target_`` calls,
        classes and functions passed as values as ``!!python/name:``. When something cannot be
        written that way (a lambda, a tensor), the YAML is still written for reading, a warning
        says it cannot be loaded, and the config is also pickled to ``filename + ".pkl"`` with
        cloudpickle. Each file is written atomically.
        """
        filename = os.fspath(filename)
        if not OmegaConf.is_config(cfg):
            cfg = DictConfig(cfg, flags={"allow_objects": True})
        try:
            cfg = deepcopy(cfg)
        except Exception:
            logger.debug("config cannot be deep-copied; saving its targets as they are")
        else:
            _visit_dict_configs(cfg, _name_targets)

        try:
            container = OmegaConf.to_container(cfg, resolve=False, structured_config_mode=SCMode.INSTANTIATE)
            data = to_plain_data(container)
        except Exception:
            logger.exception("Unable to serialize the config to yaml. Error:")
            LazyConfig._save_pickle(cfg, filename)
            return
        dump_options = {"default_flow_style": None, "allow_unicode": True, "width": 9999, "sort_keys": False}
        try:
            text = yaml.dump(data, Dumper=LazyConfigDumper, **dump_options)
        except yaml.YAMLError as exc:
            # human-readable (Python tags show what each object was) but not loadable
            text = yaml.dump(data, Dumper=yaml.Dumper, **dump_options)
            _write_atomically(filename, text.encode("utf-8"))
            logger.warning(
                "The config contains objects that cannot serialize to a valid yaml (%s). "
                "%s is human-readable but cannot be loaded.",
                exc,
                filename,
            )
            LazyConfig._save_pickle(cfg, filename)
            return
        _write_atomically(filename, text.encode("utf-8"))

    @staticmethod
    def _save_pickle(cfg: Any, filename: str) -> None:
        pkl_filename = filename + ".pkl"
        try:
            data = cloudpickle.dumps(cfg)
        except Exception:
            logger.exception("The config cannot be pickled either; only %s was written", filename)
            return
        _write_atomically(pkl_filename, data)
        logger.warning("Config is saved using cloudpickle at %s.", pkl_filename)

    @staticmethod
    def apply_overrides(cfg: Any, overrides: abc.Sequence[str]) -> Any:
        """Apply ``"a.b=value"`` overrides to ``cfg`` in place and return it.

        Values are read as in hydra's override grammar for the common cases (``123``, ``'abc'``,
        ``"123"``, ``true``, ``null``, ``[1, 2]``, bare words as strings); ``+key=`` adds a key.
        Overriding inside something that is not a config raises ``KeyError``; deletion
        (``~key``) is not supported, as in detectron2.
        """
        for override in overrides:
            if override.lstrip().startswith("~"):
                raise NotImplementedError("deletion is not yet a supported override")
            key, sep, text = override.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"override {override!r} must look like key=value")
            _update(cfg, key.lstrip("+"), _parse_override_value(text))
        return cfg

    @staticmethod
    def to_py(cfg: Any, prefix: str = "cfg.") -> str:
        """Python-like text for ``cfg`` (interpolations resolved), for reading, not for running."""
        container: Any = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else cfg
        return format_config_as_python(container, prefix=prefix)
