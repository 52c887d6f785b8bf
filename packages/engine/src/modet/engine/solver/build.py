"""``build_optimizer`` and ``build_lr_scheduler`` from ``cfg.SOLVER``, as detectron2 does them."""

from __future__ import annotations

import copy
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

import torch

from .lr_scheduler import LRMultiplier, WarmupCosineLR, WarmupMultiStepLR, WarmupStepWithFixedGammaLR

logger = logging.getLogger(__name__)

_GradientClipper = Callable[[torch.Tensor | Iterable[torch.Tensor]], object]  # the result is not used

NORM_MODULE_TYPES: tuple[type[torch.nn.Module], ...] = (
    torch.nn.modules.batchnorm._NormBase,  # BatchNorm*d, SyncBatchNorm, InstanceNorm*d and subclasses
    torch.nn.GroupNorm,
    torch.nn.LayerNorm,
    torch.nn.LocalResponseNorm,
)


class GradientClipType(Enum):
    VALUE = "value"
    NORM = "norm"
    FULL_MODEL = "full_model"


def _gradient_clipper(clip_cfg: Any) -> _GradientClipper:
    """The function that clips gradients in place, from ``cfg.SOLVER.CLIP_GRADIENTS``."""
    try:
        clip_type = GradientClipType(clip_cfg.CLIP_TYPE)
    except ValueError:
        known = ", ".join(repr(t.value) for t in GradientClipType)
        raise ValueError(
            f"SOLVER.CLIP_GRADIENTS.CLIP_TYPE must be one of {known}, got {clip_cfg.CLIP_TYPE!r}"
        ) from None
    clip_value = float(clip_cfg.CLIP_VALUE)
    if clip_type is GradientClipType.VALUE:
        return lambda params: torch.nn.utils.clip_grad_value_(params, clip_value)
    norm_type = float(clip_cfg.NORM_TYPE)
    return lambda params: torch.nn.utils.clip_grad_norm_(params, clip_value, norm_type)


def _with_gradient_clipping(
    optimizer_type: type[torch.optim.Optimizer],
    per_param_clipper: _GradientClipper | None = None,
    global_clipper: _GradientClipper | None = None,
) -> type[torch.optim.Optimizer]:
    """A subclass of ``optimizer_type`` whose ``step`` clips gradients first."""
    if (per_param_clipper is None) == (global_clipper is None):
        raise ValueError("give exactly one of per_param_clipper and global_clipper")

    def step(self: torch.optim.Optimizer, closure: Callable[[], float] | None = None) -> Any:
        if per_param_clipper is not None:
            for group in self.param_groups:
                for param in group["params"]:
                    per_param_clipper(param)
        elif global_clipper is not None:  # always, when per_param_clipper is None (checked above)
            global_clipper(list(itertools.chain(*[g["params"] for g in self.param_groups])))
        return optimizer_type.step(self, closure)

    return type(optimizer_type.__name__ + "WithGradientClip", (optimizer_type,), {"step": step})


def maybe_add_gradient_clipping(cfg: Any, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Make ``optimizer`` clip gradients as ``cfg.SOLVER.CLIP_GRADIENTS`` says (in place; also returned).

    ``value`` and ``norm`` clip each parameter's gradient on its own (detectron2's behaviour);
    ``full_model`` clips the norm of all gradients together.
    """
    clip_cfg = cfg.SOLVER.CLIP_GRADIENTS
    if not clip_cfg.ENABLED:
        return optimizer
    clipper = _gradient_clipper(clip_cfg)
    optimizer_type = type(optimizer)
    if GradientClipType(clip_cfg.CLIP_TYPE) is GradientClipType.FULL_MODEL:
        clipped_type = _with_gradient_clipping(optimizer_type, global_clipper=clipper)
    else:
        clipped_type = _with_gradient_clipping(optimizer_type, per_param_clipper=clipper)
    optimizer.__class__ = clipped_type
    return optimizer


def get_default_optimizer_params(
    model: torch.nn.Module,
    base_lr: float | None = None,
    weight_decay: float | None = None,
    weight_decay_norm: float | None = None,
    bias_lr_factor: float | None = 1.0,
    weight_decay_bias: float | None = None,
    lr_factor_func: Callable[[str], float] | None = None,
    overrides: dict[str, dict[str, float]] | None = None,
) -> list[dict[str, Any]]:
    """Parameter groups with per-parameter hyperparameters, merged where they are equal.

    Parameters of normalization layers get ``weight_decay_norm``; parameters named ``bias`` get
    ``base_lr * bias_lr_factor`` and ``weight_decay_bias``; ``overrides`` maps a parameter name
    (``"bias"``, ``"embedding"``…) to hyperparameters; ``lr_factor_func`` scales the lr by the
    parameter's full name. A parameter shared by several modules appears once.
    """
    overrides = dict(overrides or {})
    defaults: dict[str, float] = {}
    if base_lr is not None:
        defaults["lr"] = base_lr
    if weight_decay is not None:
        defaults["weight_decay"] = weight_decay
    bias_overrides: dict[str, float] = {}
    if bias_lr_factor is not None and bias_lr_factor != 1.0:
        if base_lr is None:
            raise ValueError("bias_lr_factor requires base_lr")
        bias_overrides["lr"] = base_lr * bias_lr_factor
    if weight_decay_bias is not None:
        bias_overrides["weight_decay"] = weight_decay_bias
    if bias_overrides:
        if "bias" in overrides:
            raise ValueError("conflicting overrides for 'bias': bias_lr_factor/weight_decay_bias and overrides['bias']")
        overrides["bias"] = bias_overrides
    if lr_factor_func is not None and base_lr is None:
        raise ValueError("lr_factor_func requires base_lr")

    params: list[dict[str, Any]] = []
    seen: set[torch.nn.Parameter] = set()
    for module_name, module in model.named_modules():
        for param_name, value in module.named_parameters(recurse=False):
            if not value.requires_grad or value in seen:
                continue
            seen.add(value)
            hyperparams = copy.copy(defaults)
            if isinstance(module, NORM_MODULE_TYPES) and weight_decay_norm is not None:
                hyperparams["weight_decay"] = weight_decay_norm
            if lr_factor_func is not None:
                hyperparams["lr"] *= lr_factor_func(f"{module_name}.{param_name}")
            hyperparams.update(overrides.get(param_name, {}))
            params.append({"params": [value], **hyperparams})
    return reduce_param_groups(params)


def expand_param_groups(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One group per parameter, in first-seen order; a parameter listed in several groups takes
    the union of their hyperparameters, later groups winning."""
    per_param: dict[torch.nn.Parameter, dict[str, Any]] = defaultdict(dict)
    for item in params:
        hyperparams = {k: v for k, v in item.items() if k != "params"}
        for param in item["params"]:
            per_param[param].update(hyperparams)
    return [{"params": [param], **hyperparams} for param, hyperparams in per_param.items()]


def reduce_param_groups(params: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge parameter groups with identical hyperparameters, keeping first-seen order."""
    groups: dict[tuple[tuple[str, Any], ...], list[torch.nn.Parameter]] = defaultdict(list)
    for item in expand_param_groups(params):
        key = tuple((k, v) for k, v in item.items() if k != "params")
        groups[key].extend(item["params"])
    return [{**dict(key), "params": values} for key, values in groups.items()]


def build_optimizer(cfg: Any, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum from ``cfg.SOLVER``, with norm/bias weight decay and optional gradient clipping."""
    solver = cfg.SOLVER
    params = get_default_optimizer_params(
        model,
        base_lr=solver.BASE_LR,
        weight_decay_norm=solver.WEIGHT_DECAY_NORM,
        bias_lr_factor=solver.BIAS_LR_FACTOR,
        weight_decay_bias=solver.WEIGHT_DECAY_BIAS,
    )
    if not params:
        raise ValueError("build_optimizer: the model has no parameters that require gradients")
    optimizer = torch.optim.SGD(
        params,
        lr=solver.BASE_LR,
        momentum=solver.MOMENTUM,
        nesterov=solver.NESTEROV,
        weight_decay=solver.WEIGHT_DECAY,
        foreach=True,
    )
    return maybe_add_gradient_clipping(cfg, optimizer)


LR_SCHEDULER_NAMES = ("WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR")


def build_lr_scheduler(cfg: Any, optimizer: torch.optim.Optimizer) -> LRMultiplier:
    """The scheduler named by ``cfg.SOLVER.LR_SCHEDULER_NAME``, stepped once per iteration."""
    solver = cfg.SOLVER
    name = solver.LR_SCHEDULER_NAME
    warmup = {
        "warmup_factor": solver.WARMUP_FACTOR,
        "warmup_iters": solver.WARMUP_ITERS,
        "warmup_method": solver.WARMUP_METHOD,
        "rescale_interval": solver.RESCALE_INTERVAL,
    }
    if name == "WarmupMultiStepLR":
        steps = [x for x in solver.STEPS if x <= solver.MAX_ITER]
        if len(steps) != len(solver.STEPS):
            logger.warning("SOLVER.STEPS contains values larger than SOLVER.MAX_ITER; they are ignored")
        return WarmupMultiStepLR(optimizer, steps, solver.MAX_ITER, gamma=solver.GAMMA, **warmup)
    if name == "WarmupCosineLR":
        end_factor = solver.BASE_LR_END / solver.BASE_LR
        return WarmupCosineLR(optimizer, solver.MAX_ITER, end_factor=end_factor, **warmup)
    if name == "WarmupStepWithFixedGammaLR":
        return WarmupStepWithFixedGammaLR(
            optimizer, solver.MAX_ITER, gamma=solver.GAMMA, num_decays=solver.NUM_DECAYS, **warmup
        )
    raise ValueError(f"unknown SOLVER.LR_SCHEDULER_NAME {name!r}; known: {', '.join(LR_SCHEDULER_NAMES)}")
