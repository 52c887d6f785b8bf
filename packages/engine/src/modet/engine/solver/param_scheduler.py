"""fvcore's param schedulers (``fvcore.common.param_scheduler``), which detectron2's LazyConfigs use.

A param scheduler maps training progress ``where`` in [0, 1] to a value, here a learning-rate
multiplier. Same class names, arguments and numbers as fvcore's; any object with fvcore's
interface (a ``__call__(where) -> float``, fvcore's own classes included) works wherever modet
takes a scheduler.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

__all__ = [
    "CompositeParamScheduler",
    "ConstantParamScheduler",
    "CosineParamScheduler",
    "ExponentialParamScheduler",
    "LinearParamScheduler",
    "MultiStepParamScheduler",
    "ParamScheduler",
    "PolynomialDecayParamScheduler",
    "StepParamScheduler",
    "StepWithFixedGammaParamScheduler",
]


class ParamScheduler:
    """A value as a function of training progress ``where`` (0 at the start, 1 at the end)."""

    #: added to ``where`` before it is floored to a step, so float noise never moves a step
    WHERE_EPSILON = 1e-6

    def __call__(self, where: float) -> float:
        raise NotImplementedError("Param schedulers must override __call__")


def _check_where(where: float, *, end_included: bool) -> None:
    if where > 1.0 or (where == 1.0 and not end_included):
        raise RuntimeError(f"where in ParamScheduler must be in [0, 1]: got {where}")


class ConstantParamScheduler(ParamScheduler):
    """Always ``value``."""

    def __init__(self, value: float) -> None:
        self._value = value

    def __call__(self, where: float) -> float:
        _check_where(where, end_included=False)
        return self._value


class CosineParamScheduler(ParamScheduler):
    """Half a cosine from ``start_value`` (where=0) to ``end_value`` (where=1)."""

    def __init__(self, start_value: float, end_value: float) -> None:
        self._start_value = start_value
        self._end_value = end_value

    def __call__(self, where: float) -> float:
        return self._end_value + 0.5 * (self._start_value - self._end_value) * (1 + math.cos(math.pi * where))


class ExponentialParamScheduler(ParamScheduler):
    """``start_value * decay ** where``."""

    def __init__(self, start_value: float, decay: float) -> None:
        self._start_value = start_value
        self._decay = decay

    def __call__(self, where: float) -> float:
        return self._start_value * self._decay**where


class LinearParamScheduler(ParamScheduler):
    """A straight line from ``start_value`` (where=0) to ``end_value`` (where=1)."""

    def __init__(self, start_value: float, end_value: float) -> None:
        self._start_value = start_value
        self._end_value = end_value

    def __call__(self, where: float) -> float:
        return self._end_value * where + self._start_value * (1 - where)


class MultiStepParamScheduler(ParamScheduler):
    """``values[k]`` from step ``milestones[k-1]`` (included) to ``milestones[k]`` (excluded).

    Either ``num_updates`` (the total number of steps) or a last milestone must close the last
    range: ``values=[1, .1, .01]`` with ``milestones=[30, 60], num_updates=90``, with
    ``milestones=[30, 60, 90]``, or with ``num_updates=90`` alone (equal ranges) is one schedule.
    """

    def __init__(
        self, values: Sequence[float], num_updates: int | None = None, milestones: Sequence[int] | None = None
    ) -> None:
        values = list(values)
        if num_updates is None and milestones is None:
            raise ValueError("num_updates and milestones cannot both be None")
        if milestones is None:
            assert num_updates is not None
            step_width = math.ceil(num_updates / len(values))
            milestones = [step_width * (k + 1) for k in range(len(values) - 1)]
        else:
            expected = len(values) - int(num_updates is not None)
            if not isinstance(milestones, Sequence) or len(milestones) != expected:
                raise ValueError(
                    f"MultiStep scheduler requires a list of {expected} milestones for {len(values)} values, "
                    f"got {milestones!r}"
                )
            milestones = list(milestones)
        if num_updates is None:
            num_updates, milestones = milestones[-1], milestones[:-1]
        if num_updates < len(values):
            raise ValueError(f"Total num_updates ({num_updates}) must be greater than length of param schedule")
        start = 0
        for milestone in milestones:
            if milestone >= num_updates:
                raise ValueError(
                    f"Milestone must be smaller than total number of updates: num_updates={num_updates}, "
                    f"milestone={milestone}"
                )
            if start >= milestone:
                raise ValueError(f"Milestones must increase: {milestone} follows {start}")
            start = milestone
        self._param_schedule = values
        self._num_updates = num_updates
        self._milestones = milestones

    def __call__(self, where: float) -> float:
        _check_where(where, end_included=True)
        step = int((where + self.WHERE_EPSILON) * self._num_updates)
        return self._param_schedule[bisect.bisect_right(self._milestones, step)]


class PolynomialDecayParamScheduler(ParamScheduler):
    """``base_value * (1 - where) ** power``."""

    def __init__(self, base_value: float, power: float) -> None:
        self._base_value = base_value
        self._power = power

    def __call__(self, where: float) -> float:
        return self._base_value * (1 - where) ** self._power


class StepParamScheduler(ParamScheduler):
    """``values`` in turn, each for an equal share of training."""

    def __init__(self, num_updates: float, values: Sequence[float]) -> None:
        if num_updates <= 0:
            raise ValueError(f"Number of updates must be larger than 0, got {num_updates}")
        if not (isinstance(values, Sequence) and len(values) > 0):
            raise ValueError("Step scheduler requires a list of at least one param value")
        self._param_schedule = list(values)

    def __call__(self, where: float) -> float:
        index = int((where + self.WHERE_EPSILON) * len(self._param_schedule))
        return self._param_schedule[min(index, len(self._param_schedule) - 1)]


class StepWithFixedGammaParamScheduler(ParamScheduler):
    """``base_value * gamma**k`` for ``k`` in 0..``num_decays``, each for an equal share of training."""

    def __init__(self, base_value: float, num_decays: int, gamma: float, num_updates: int) -> None:
        for value in (base_value, gamma):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"base_value and gamma must be positive numbers, got {value!r}")
        for value in (num_decays, num_updates):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"num_decays and num_updates must be positive integers, got {value!r}")
        self.base_value, self.num_decays, self.gamma, self.num_updates = base_value, num_decays, gamma, num_updates
        self._steps = StepParamScheduler(num_updates, [base_value * gamma**k for k in range(num_decays + 1)])

    def __call__(self, where: float) -> float:
        return self._steps(where)


class CompositeParamScheduler(ParamScheduler):
    """Schedulers one after another, each for its share (``lengths``, summing to 1) of training.

    With ``"rescaled"`` interval scaling a scheduler sees its own share as 0..1; with ``"fixed"``
    it sees the global ``where``.
    """

    def __init__(
        self, schedulers: Sequence[ParamScheduler], lengths: Sequence[float], interval_scaling: Sequence[str]
    ) -> None:
        lengths = list(lengths)
        if len(schedulers) != len(lengths):
            raise ValueError("Schedulers and lengths must be same length")
        if not schedulers:
            raise ValueError("There must be at least one scheduler in the composite scheduler")
        if abs(sum(lengths) - 1.0) >= 1e-3:
            raise ValueError(f"The sum of all values in lengths must be 1, got {sum(lengths)}")
        if sum(lengths) != 1.0:
            lengths[-1] = 1.0 - sum(lengths[:-1])
        for scaling in interval_scaling:
            if scaling not in ("rescaled", "fixed"):
                raise ValueError(f"Unsupported interval_scaling: {scaling}")
        self._lengths = lengths
        self._schedulers = list(schedulers)
        self._interval_scaling = list(interval_scaling)

    def __call__(self, where: float) -> float:
        index = 0
        end = self._lengths[0]
        while where + self.WHERE_EPSILON > end and index < len(self._schedulers) - 1:
            index += 1
            end += self._lengths[index]
        if self._interval_scaling[index] == "rescaled":
            start = end - self._lengths[index]
            where = (where - start) / self._lengths[index]
        return self._schedulers[index](where)
