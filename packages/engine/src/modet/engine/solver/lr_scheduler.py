"""Learning-rate schedules of detectron2, as torch ``LRScheduler`` subclasses.

detectron2 composes fvcore "param schedulers" (a multiplier as a function of training progress
``where`` in [0, 1]) with a warmup and wraps them in ``LRMultiplier``. The same arithmetic lives
here in plain functions, so each scheduler's learning rate at iteration ``i`` equals
detectron2's, and the state that resumes a run is torch's (``base_lrs``, ``last_epoch``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import torch
from torch.optim.lr_scheduler import LRScheduler

# fvcore adds this to ``where`` before flooring to an iteration, so float noise never
# lands a step one iteration early or late.
WHERE_EPSILON = 1e-6

Multiplier = Callable[[float], float]


def multistep_multiplier(values: Sequence[float], milestones: Sequence[int], num_updates: int) -> Multiplier:
    """``values[k]`` between ``milestones[k-1]`` and ``milestones[k]`` (iterations)."""
    if len(values) != len(milestones) + 1:
        raise ValueError(f"multistep schedule needs len(values) == len(milestones) + 1, got {values} and {milestones}")
    if list(milestones) != sorted(milestones):
        raise ValueError(f"milestones must be increasing, got {list(milestones)}")

    def multiplier(where: float) -> float:
        iteration = int((where + WHERE_EPSILON) * num_updates)
        return values[bisect.bisect_right(milestones, iteration)]

    return multiplier


def cosine_multiplier(start_value: float, end_value: float) -> Multiplier:
    """Half a cosine from ``start_value`` at where=0 to ``end_value`` at where=1."""

    def multiplier(where: float) -> float:
        return end_value + 0.5 * (start_value - end_value) * (1 + math.cos(math.pi * where))

    return multiplier


def step_with_fixed_gamma_multiplier(base_value: float, gamma: float, num_decays: int) -> Multiplier:
    """``num_decays + 1`` equal-length steps of ``base_value * gamma**k``."""
    values = [base_value * gamma**k for k in range(num_decays + 1)]

    def multiplier(where: float) -> float:
        index = int((where + WHERE_EPSILON) * len(values))
        return values[min(index, len(values) - 1)]

    return multiplier


def warmup_multiplier(
    schedule: Multiplier,
    warmup_factor: float,
    warmup_length: float,
    warmup_method: str = "linear",
    rescale_interval: bool = False,
) -> Multiplier:
    """``schedule`` preceded by a warmup over the first ``warmup_length`` fraction of training.

    Linear warmup goes from ``warmup_factor * schedule(0)`` to ``schedule(warmup_length)``;
    constant warmup stays at the start value. After warmup the schedule is evaluated at the
    same ``where`` (or rescaled to the remaining interval with ``rescale_interval``).
    """
    if warmup_method not in ("linear", "constant"):
        raise ValueError(f"SOLVER.WARMUP_METHOD must be 'linear' or 'constant', got {warmup_method!r}")
    if not 0.0 <= warmup_length <= 1.0:
        raise ValueError(f"warmup length must be a fraction of training in [0, 1], got {warmup_length}")
    end_value = schedule(warmup_length)
    start_value = warmup_factor * schedule(0.0)

    def multiplier(where: float) -> float:
        if where + WHERE_EPSILON <= warmup_length:
            fraction = where / warmup_length
            if warmup_method == "constant":
                return start_value
            return end_value * fraction + start_value * (1 - fraction)
        if rescale_interval:
            return schedule((where - warmup_length) / (1 - warmup_length))
        return schedule(where)

    return multiplier


def _check_max_iter(max_iter: int) -> None:
    if max_iter <= 0:
        raise ValueError(f"max_iter must be positive, got {max_iter}")


class LRMultiplier(LRScheduler):
    """Learning rate = base lr × ``multiplier(iteration / max_iter)``; stepped once per iteration."""

    def __init__(
        self, optimizer: torch.optim.Optimizer, multiplier: Multiplier, max_iter: int, last_iter: int = -1
    ) -> None:
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

    def get_lr(self) -> list[float]:
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
        multiplier = warmup_multiplier(schedule, warmup_factor, warmup_length, warmup_method, rescale_interval)
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
        milestones = list(milestones)
        schedule = multistep_multiplier([gamma**k for k in range(len(milestones) + 1)], milestones, max_iter)
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
        schedule = cosine_multiplier(1.0, end_factor)
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
        schedule = step_with_fixed_gamma_multiplier(1.0, gamma, num_decays)
        super().__init__(
            optimizer, schedule, max_iter, warmup_factor, warmup_iters, warmup_method, rescale_interval, last_iter
        )
