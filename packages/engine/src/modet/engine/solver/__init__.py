"""detectron2's ``detectron2.solver``: optimizers and learning-rate schedules from ``cfg.SOLVER``."""

from .build import (
    build_lr_scheduler,
    build_optimizer,
    get_default_optimizer_params,
    maybe_add_gradient_clipping,
    reduce_param_groups,
)
from .lr_scheduler import LRMultiplier, WarmupCosineLR, WarmupMultiStepLR, WarmupStepWithFixedGammaLR

__all__ = [
    "LRMultiplier",
    "WarmupCosineLR",
    "WarmupMultiStepLR",
    "WarmupStepWithFixedGammaLR",
    "build_lr_scheduler",
    "build_optimizer",
    "get_default_optimizer_params",
    "maybe_add_gradient_clipping",
    "reduce_param_groups",
]
