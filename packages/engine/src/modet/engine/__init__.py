"""modet-engine: detectron2's ``detectron2.engine`` — predictor, trainers, hooks, writers, launch.

``EventStorage`` and ``get_event_storage`` (from ``modet.core.events``) are re-exported here,
so ``from modet.engine import EventStorage`` replaces ``detectron2.utils.events``.
"""

from modet.core.events import EventStorage, get_event_storage

from . import comm, hooks
from .defaults import (
    DefaultPredictor,
    DefaultTrainer,
    create_ddp_model,
    default_argument_parser,
    default_setup,
    default_writers,
)
from .hooks import HookBase
from .launch import launch
from .train_loop import AMPTrainer, SimpleTrainer, TrainerBase
from .writers import CommonMetricPrinter, EventWriter, JSONWriter, TensorboardXWriter

__version__ = "0.1.0"

__all__ = [
    "AMPTrainer",
    "CommonMetricPrinter",
    "DefaultPredictor",
    "DefaultTrainer",
    "EventStorage",
    "EventWriter",
    "HookBase",
    "JSONWriter",
    "SimpleTrainer",
    "TensorboardXWriter",
    "TrainerBase",
    "comm",
    "create_ddp_model",
    "default_argument_parser",
    "default_setup",
    "default_writers",
    "get_event_storage",
    "hooks",
    "launch",
]
