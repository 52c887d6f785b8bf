"""Dotted names to objects and back: how config files name classes and functions.

``locate("torch.optim.SGD")`` returns the object a ``_target_`` string names;
``convert_target_to_string(obj)`` is its inverse and picks the shortest public path
(``modet.data.transforms.RandomCrop`` rather than ``...transforms.augmentation_impl.RandomCrop``).
Both are detectron2's ``detectron2.utils.registry.locate`` / ``_convert_target_to_string``.
"""

from __future__ import annotations

import builtins
import importlib
from typing import Any

__all__ = ["convert_target_to_string", "locate"]


def _import_module_if_exists(name: str) -> Any | None:
    """The module ``name``, or None when no such module exists (a failing import inside it still raises)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            return None
        raise


def locate(name: str) -> Any:
    """The object named by ``name`` (``"module.sub.Class.Nested"``, or a builtin such as ``"len"``).

    Attribute access and submodule imports are tried part by part, so names such as
    ``torch.optim.sgd.SGD`` work where ``pydoc.locate`` fails. Raises ``ImportError`` naming
    ``name`` when nothing by that name can be found.
    """
    if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
        raise ImportError(f"Cannot locate {name!r}: expected a dotted name such as 'package.module.Class'")
    parts = name.split(".")
    obj = _import_module_if_exists(parts[0])
    if obj is None:
        if len(parts) == 1 and hasattr(builtins, name):
            return getattr(builtins, name)
        raise ImportError(f"Cannot locate {name!r}: there is no module {parts[0]!r}")
    for index, part in enumerate(parts[1:], start=1):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        module = _import_module_if_exists(".".join(parts[: index + 1]))
        if module is None:
            found = ".".join(parts[:index])
            raise ImportError(f"Cannot locate {name!r}: {found!r} has no attribute or submodule {part!r}")
        obj = module
    return obj


def convert_target_to_string(target: Any) -> str:
    """The dotted name of ``target`` that :func:`locate` turns back into the same object.

    The shortest module prefix that still resolves to ``target`` is used, so the name survives
    moving the implementation between private submodules.
    """
    try:
        module, qualname = target.__module__, target.__qualname__
    except AttributeError:
        raise AttributeError(f"{target!r} has no __module__/__qualname__, so it cannot be named in a config") from None
    module_parts = module.split(".")
    for k in range(1, len(module_parts)):
        candidate = f"{'.'.join(module_parts[:k])}.{qualname}"
        try:
            if locate(candidate) is target:
                return candidate
        except ImportError:
            continue
    return f"{module}.{qualname}"
