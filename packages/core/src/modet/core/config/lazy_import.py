"""Running a LazyConfig ``.py`` file, with detectron2's rules for relative imports between config files.

A ``.py`` config is a Python program, and loading one runs it with the rights of the caller:
load only files you trust. Inside a config file, ``from ..common.optim import SGD`` finds
``../common/optim.py`` by its location alone (no ``__init__.py`` needed, no package), runs it
afresh on every import (so one config's edits never leak into another's), and turns imported
dicts into ``DictConfig``. Imports are redirected through the config's own ``__builtins__``, so
nothing global is patched and other threads import as usual.
"""

from __future__ import annotations

import builtins
import os
import types
import uuid
from typing import Any

from omegaconf import DictConfig

__all__ = ["as_config", "run_config_file"]

_MARKER = "__modet_lazy_config__"
_NAMESPACE_PREFIX = "modet.core.config._lazy_config_"

_DIRECTORY_IMPORT = (
    "a relative import in a config file can only import another config file (.py), not a directory "
    "or package; write `from .file import name`"
)


def as_config(obj: Any) -> Any:
    """A plain dict as a ``DictConfig`` that may hold any object; anything else unchanged."""
    if isinstance(obj, dict):
        return DictConfig(obj, flags={"allow_objects": True})
    return obj


def _read_source(filename: str) -> str:
    try:
        with open(filename, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {filename}") from None


def _compile(filename: str) -> types.CodeType:
    source = _read_source(filename)
    try:
        return compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise SyntaxError(f"Config file {filename} has syntax error! {exc.msg} (line {exc.lineno})") from exc


def _resolve_relative(importer_file: str, name: str, level: int) -> str:
    """The ``.py`` file that ``from <level dots><name> import ...`` means in ``importer_file``."""
    if not name:
        raise ImportError(f"Cannot import from {os.path.dirname(importer_file)}: {_DIRECTORY_IMPORT}")
    directory = os.path.dirname(importer_file)
    for _ in range(level - 1):
        directory = os.path.dirname(directory)
    path = os.path.join(directory, *name.split("."))
    if os.path.isfile(path + ".py"):
        return path + ".py"
    if os.path.isdir(path):
        raise ImportError(f"Cannot import from {path}: {_DIRECTORY_IMPORT}")
    raise ImportError(f"Cannot import name {name} from {importer_file}: {path}.py does not exist.")


def _config_import(
    name: str,
    globals: dict[str, Any] | None = None,  # the signature of __import__
    locals: dict[str, Any] | None = None,
    fromlist: tuple[str, ...] | list[str] | None = (),
    level: int = 0,
) -> Any:
    if level == 0 or not globals or not globals.get(_MARKER):
        return builtins.__import__(name, globals, locals, fromlist or (), level)
    path = _resolve_relative(globals["__file__"], name, level)
    module = types.ModuleType(_namespace_name(path))
    run_config_file(path, module.__dict__)
    for attr in fromlist or ():
        if attr == "*":
            continue
        if attr not in module.__dict__:
            raise ImportError(f"cannot import name {attr!r} from config file {path}")
        module.__dict__[attr] = as_config(module.__dict__[attr])
    return module


_CONFIG_BUILTINS = {**builtins.__dict__, "__import__": _config_import}


def _namespace_name(filename: str) -> str:
    return f"{_NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}.{os.path.basename(filename)}"


def run_config_file(filename: str, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run the config file ``filename`` in ``namespace`` (a fresh dict by default) and return it."""
    namespace = {} if namespace is None else namespace
    code = _compile(filename)
    namespace.setdefault("__name__", _namespace_name(filename))
    namespace.update({"__file__": filename, "__builtins__": _CONFIG_BUILTINS, _MARKER: True})
    exec(code, namespace)
    return namespace
