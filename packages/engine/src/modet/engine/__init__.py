"""modet-engine: detectron2's ``detectron2.engine`` — predictor, trainers, hooks, writers, launch.

``EventStorage`` and ``get_event_storage`` (from ``modet.core.events``) are re-exported here,
so ``from modet.engine import EventStorage`` replaces ``detectron2.utils.events``. Other names
are imported on first access (PEP 562): the ``modet`` command starts without loading torch
until a subcommand needs it.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _distribution_version
from typing import Any

from modet.core.events import EventStorage, get_event_storage

# Eager: the function must shadow the submodule of the same name (launch.py imports torch lazily).
from .launch import launch

__version__ = _distribution_version("modet-engine")  # the one source of the version is pyproject.toml

_EXPORTS: dict[str, str] = {
    "AMPTrainer": "train_loop",
    "DataLoaderExhaustedError": "train_loop",
    "HookBase": "train_loop",
    "SimpleTrainer": "train_loop",
    "TrainerBase": "train_loop",
    "DefaultPredictor": "defaults",
    "DefaultTrainer": "defaults",
    "create_ddp_model": "defaults",
    "default_argument_parser": "defaults",
    "default_setup": "defaults",
    "default_writers": "writers",
    "CommonMetricPrinter": "writers",
    "EventWriter": "writers",
    "JSONWriter": "writers",
    "TensorboardXWriter": "writers",
}
_SUBMODULES = ("comm", "hooks", "solver", "visualizer", "cli")

__all__ = ["EventStorage", "get_event_storage", "launch", *_EXPORTS, *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
