"""detectron2's ``@configurable``: build from plain arguments, or from a config via ``from_config``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from omegaconf import DictConfig
from yacs.config import CfgNode as _YacsCfgNode

F = TypeVar("F", bound=Callable[..., Any])

# what counts as a config: detectron2's yacs CfgNode, or an omegaconf DictConfig of the same keys
_CONFIG_TYPES = (_YacsCfgNode, DictConfig)


def _called_with_cfg(*args: Any, **kwargs: Any) -> bool:
    if args and isinstance(args[0], _CONFIG_TYPES):
        return True
    return isinstance(kwargs.pop("cfg", None), _CONFIG_TYPES)


def _get_args_from_config(from_config: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call ``from_config``, passing through any keyword it does not know to the constructor."""
    signature = inspect.signature(from_config)
    params = list(signature.parameters)
    if not params or params[0] != "cfg":
        name = getattr(from_config, "__qualname__", repr(from_config))
        raise TypeError(f"{name} must take 'cfg' as its first argument")
    takes_var_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    if takes_var_kwargs:
        return from_config(*args, **kwargs)
    known = {k: v for k, v in kwargs.items() if k in signature.parameters}
    extra = {k: v for k, v in kwargs.items() if k not in signature.parameters}
    result = from_config(*args, **known)
    result.update(extra)
    return result


def configurable(init_func: F | None = None, *, from_config: Callable[..., Any] | None = None) -> Any:
    """Let a class ``__init__`` or a function also be called as ``f(cfg, **overrides)``.

    On a class, decorate ``__init__`` and define ``@classmethod from_config(cls, cfg, ...)``
    returning the constructor's keyword arguments. On a function, pass
    ``from_config=...``. Called without a config (a ``CfgNode``, or an omegaconf ``DictConfig``
    of the same keys), arguments go straight through.
    """
    if init_func is not None:
        if not (inspect.isfunction(init_func) and init_func.__name__ == "__init__" and from_config is None):
            raise TypeError(
                "@configurable on a class goes on __init__; on a function use @configurable(from_config=...)"
            )

        @functools.wraps(init_func)
        def wrapped_init(self: Any, *args: Any, **kwargs: Any) -> None:
            from_config_func = getattr(type(self), "from_config", None)
            if from_config_func is None:
                raise AttributeError(f"{type(self).__name__} uses @configurable but has no classmethod from_config")
            if not inspect.ismethod(from_config_func):
                raise TypeError(f"{type(self).__name__}.from_config must be a classmethod")
            if _called_with_cfg(*args, **kwargs):
                explicit = _get_args_from_config(from_config_func, *args, **kwargs)
                init_func(self, **explicit)
            else:
                init_func(self, *args, **kwargs)

        return wrapped_init

    if from_config is None:
        return configurable  # @configurable() with no arguments: used on __init__
    if not inspect.isfunction(from_config):
        raise TypeError("from_config must be a function")

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if _called_with_cfg(*args, **kwargs):
                return func(**_get_args_from_config(from_config, *args, **kwargs))
            return func(*args, **kwargs)

        wrapped.from_config = from_config  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator
