"""Learning-rate schedules of detectron2 (``detectron2.solver.lr_scheduler``), as torch ``LRScheduler``s.

A schedule is a param scheduler (:mod:`.param_scheduler`: a multiplier as a function of
training progress ``where`` in [0, 1]), usually wrapped in :class:`WarmupParamScheduler`;
:class:`LRMultiplier` applies it to the optimizer's base learning rates once per iteration.
``WarmupMultiStepLR``, ``WarmupCosineLR`` and ``WarmupStepWithFixedGammaLR`` are that
composition for ``cfg.SOLVER``. The learning rate at each iteration equals detectron2's, and the
state that resumes a run is torch's (``base_lrs``, ``last_epoch``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.optim.lr_scheduler import LRScheduler

from .param_scheduler import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    CosineParamScheduler,
    LinearParamScheduler,
    MultiStepParamScheduler,
    ParamScheduler,
    StepWithFixedGammaParamScheduler,
)

__all__ = [
    "LRMultiplier",
    "WarmupCosineLR",
    "WarmupMultiStepLR",
    "WarmupParamScheduler",
    "WarmupStepWithFixedGammaLR",
]

Multiplier = Callable[[float], float]


class WarmupParamScheduler(CompositeParamScheduler):
    """``scheduler`` preceded by a warmup over the first ``warmup_length`` fraction of training.

    Linear warmup goes from ``warmup_factor * scheduler(0)`` to the value the schedule has where
    warmup ends; constant warmup stays at the start value. After warmup, ``scheduler`` sees the
    global progress (or, with ``rescale_interval``, the remaining interval as 0..1, starting
    from ``scheduler(0)``). ``scheduler`` may be any fvcore-style scheduler (fvcore's own too).
    """

    def __init__(
        self,
        scheduler: Multiplier,
        warmup_factor: float,
        warmup_length: float,
        warmup_method: str = "linear",
        rescale_interval: bool = False,
    ) -> None:
        if not 0.0 <= warmup_length <= 1.0:
            raise ValueError(f"warmup length must be a fraction of training in [0, 1], got {warmup_length}")
        end_value = scheduler(0.0) if rescale_interval else scheduler(warmup_length)
        start_value = warmup_factor * scheduler(0.0)
        warmup: ParamScheduler
        if warmup_method == "constant":
            warmup = ConstantParamScheduler(start_value)
        elif warmup_method == "linear":
            warmup = LinearParamScheduler(start_value, end_value)
        else:
            raise ValueError(
                f"Unknown warmup method: {warmup_method!r} (warmup_method, SOLVER.WARMUP_METHOD: 'linear' or 'constant')"
            )
        super().__init__(
            [warmup, scheduler],  # type: ignore[list-item]
            lengths=[warmup_length, 1 - warmup_length],
            interval_scaling=["rescaled", "rescaled" if rescale_interval else "fixed"],
        )


def _multistep_schedule(milestones: Sequence[int], gamma: float, max_iter: int) -> MultiStepParamScheduler:
    """``gamma ** k`` after the k-th milestone. A milestone at 0, or repeated (``SOLVER.STEPS`` of a
    very short run), applies ``gamma`` once per occurrence; milestones at or after ``max_iter``
    never take effect."""
    kept = [m for m in milestones if m < max_iter]
    boundaries = sorted({m for m in kept if m > 0})
    values = [gamma ** sum(m <= b for m in kept) for b in [0, *boundaries]]
    return MultiStepParamScheduler(values, max_iter, boundaries)


def _check_max_iter(max_iter: int) -> None:
    if max_iter <= 0:
        raise ValueError(f"max_iter must be positive, got {max_iter}")


class LRMultiplier(LRScheduler):
    """Learning rate = base lr × ``multiplier(iteration / max_iter)``; stepped once per iteration.

    ``multiplier`` is a param scheduler (modet's, fvcore's) or any function of ``where``.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, multiplier: Multiplier, max_iter: int, last_iter: int = -1
    ) -> None:
        if not callable(multiplier):
            raise ValueError(f"LRMultiplier(multiplier=) must be a param scheduler (callable), got {multiplier!r}")
        _check_max_iter(max_iter)
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def state_dict(self) -> dict:
        # The multiplier is a pure function of the iteration: only torch's counters are state.
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def load_state_dict(self, state_dict: dict) -> None:
        self.base_lrs = list(state_dict["base_lrs"])
        self.last_epoch = int(state_dict["last_epoch"])
        self._last_lr = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, self._last_lr):
            group["lr"] = lr

    def get_lr(self) -> list[float | torch.Tensor]:
        multiplier = self._multiplier(min(self.last_epoch / self._max_iter, 1.0))
        return [base_lr * multiplier for base_lr in self.base_lrs]


class _WarmupLR(LRMultiplier):
    """``schedule`` preceded by ``warmup_iters`` iterations of warmup: the body of the Warmup*LR classes."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Multiplier,
        max_iter: int,
        warmup_factor: float,
        warmup_iters: int,
        warmup_method: str,
        rescale_interval: bool,
        last_iter: int,
    ) -> None:
        _check_max_iter(max_iter)
        warmup_length = min(warmup_iters / max_iter, 1.0)
        multiplier = WarmupParamScheduler(schedule, warmup_factor, warmup_length, warmup_method, rescale_interval)
        super().__init__(optimizer, multiplier, max_iter, last_iter)


class WarmupMultiStepLR(_WarmupLR):
    """Warmup, then the lr times ``gamma**k`` after the k-th of ``milestones``."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        milestones: Sequence[int],
        max_iter: int,
        gamma: float = 0.1,
        warmup_factor: float = 0.001,
        warmup_iters: int = 1000,
        warmup_method: str = "linear",
        rescale_interval: bool = False,
        last_iter: int = -1,
    ) -> None:
        _check_max_iter(max_iter)
        if list(milestones) != sorted(milestones):
            raise ValueError(f"milestones must be increasing, got {list(milestones)}")
        schedule = _multistep_schedule(milestones, gamma, max_iter)
        super().__init__(
            optimizer, schedule, max_iter, warmup_factor, warmup_iters, warmup_method, rescale_interval, last_iter
        )


class WarmupCosineLR(_WarmupLR):
    """Warmup, then half a cosine from the base lr down to ``base_lr * end_factor``."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_iter: int,
        end_factor: float = 0.0,
        warmup_factor: float = 0.001,
        warmup_iters: int = 1000,
        warmup_method: str = "linear",
        rescale_interval: bool = False,
        last_iter: int = -1,
    ) -> None:
        if not 0.0 <= end_factor <= 1.0:
            raise ValueError(
                f"cosine end factor (SOLVER.BASE_LR_END / SOLVER.BASE_LR) must be in [0, 1], got {end_factor}"
            )
        schedule = CosineParamScheduler(1.0, end_factor)
        super().__init__(
            optimizer, schedule, max_iter, warmup_factor, warmup_iters, warmup_method, rescale_interval, last_iter
        )


class WarmupStepWithFixedGammaLR(_WarmupLR):
    """Warmup, then ``num_decays`` equally spaced multiplications by ``gamma``."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        max_iter: int,
        gamma: float = 0.1,
        num_decays: int = 3,
        warmup_factor: float = 0.001,
        warmup_iters: int = 1000,
        warmup_method: str = "linear",
        rescale_interval: bool = False,
        last_iter: int = -1,
    ) -> None:
        _check_max_iter(max_iter)
        schedule = StepWithFixedGammaParamScheduler(1.0, num_decays, gamma, max_iter)
        super().__init__(
            optimizer, schedule, max_iter, warmup_factor, warmup_iters, warmup_method, rescale_interval, last_iter
        )
