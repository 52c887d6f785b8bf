"""fvcore-style param schedulers and WarmupParamScheduler: hand-computed values."""

import math

import pytest
import torch

from modet.engine.solver import (
    CompositeParamScheduler,
    ConstantParamScheduler,
    CosineParamScheduler,
    ExponentialParamScheduler,
    LinearParamScheduler,
    LRMultiplier,
    MultiStepParamScheduler,
    PolynomialDecayParamScheduler,
    StepParamScheduler,
    StepWithFixedGammaParamScheduler,
    WarmupParamScheduler,
)


def test_simple_schedulers():
    assert ConstantParamScheduler(0.3)(0.7) == 0.3
    assert CosineParamScheduler(1.0, 0.0)(0.5) == pytest.approx(0.5)
    assert CosineParamScheduler(1.0, 0.2)(0.25) == pytest.approx(0.2 + 0.4 * (1 + math.cos(math.pi / 4)))
    assert ExponentialParamScheduler(2.0, 0.25)(0.5) == pytest.approx(1.0)
    assert LinearParamScheduler(0.0, 4.0)(0.25) == pytest.approx(1.0)
    assert PolynomialDecayParamScheduler(1.0, 2.0)(0.5) == pytest.approx(0.25)
    with pytest.raises(RuntimeError, match=r"must be in \[0, 1\]"):
        ConstantParamScheduler(1.0)(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_updates": 90, "milestones": [30, 60]},
        {"num_updates": 90},  # equal ranges
        {"milestones": [30, 60, 90]},  # the last milestone ends the schedule
        {"milestones": [3, 6, 9]},  # only progress counts
    ],
)
def test_multistep_forms_are_one_schedule(kwargs):
    sched = MultiStepParamScheduler(values=[1.0, 0.1, 0.01], **kwargs)
    values = [sched(i / 90) for i in range(90)]
    assert values == [1.0] * 30 + [0.1] * 30 + [0.01] * 30
    assert sched(1.0) == 0.01


def test_multistep_errors():
    with pytest.raises(ValueError, match="cannot both be None"):
        MultiStepParamScheduler([1, 0.1])
    with pytest.raises(ValueError, match="requires a list of 1 milestones"):
        MultiStepParamScheduler([1, 0.1], num_updates=10, milestones=[3, 5])
    with pytest.raises(ValueError, match="smaller than total number of updates"):
        MultiStepParamScheduler([1, 0.1], num_updates=10, milestones=[10])
    with pytest.raises(ValueError, match="Milestones must increase"):
        MultiStepParamScheduler([1, 0.1, 0.01], num_updates=10, milestones=[5, 4])


def test_step_schedulers():
    sched = StepParamScheduler(num_updates=120, values=[0.1, 0.01, 0.001, 0.0001])
    assert [sched(w) for w in (0.0, 0.249, 0.25, 0.5, 0.99)] == [0.1, 0.1, 0.01, 0.001, 0.0001]
    gamma = StepWithFixedGammaParamScheduler(base_value=1.0, num_decays=2, gamma=0.5, num_updates=30)
    assert [gamma(w) for w in (0.0, 0.34, 0.67, 1.0)] == [1.0, 0.5, 0.25, 0.25]
    with pytest.raises(ValueError, match="positive integers"):
        StepWithFixedGammaParamScheduler(base_value=1.0, num_decays=0, gamma=0.5, num_updates=30)


def test_composite_fixed_and_rescaled():
    sched = CompositeParamScheduler(
        [LinearParamScheduler(0.0, 1.0), LinearParamScheduler(0.0, 1.0)],
        lengths=[0.25, 0.75],
        interval_scaling=["rescaled", "fixed"],
    )
    assert sched(0.125) == pytest.approx(0.5)  # halfway through the first quarter
    assert sched(0.5) == pytest.approx(0.5)  # the second sees the global progress
    rescaled = CompositeParamScheduler(
        [ConstantParamScheduler(3.0), LinearParamScheduler(0.0, 1.0)],
        lengths=[0.25, 0.75],
        interval_scaling=["rescaled", "rescaled"],
    )
    assert rescaled(0.1) == 3.0
    assert rescaled(0.625) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="sum of all values in lengths must be 1"):
        CompositeParamScheduler([ConstantParamScheduler(1.0)], lengths=[0.5], interval_scaling=["fixed"])


def test_warmup_param_scheduler():
    base = MultiStepParamScheduler([1.0, 0.1], num_updates=100, milestones=[50])
    sched = WarmupParamScheduler(base, warmup_factor=0.1, warmup_length=0.1)
    assert sched(0.0) == pytest.approx(0.1)
    assert sched(0.05) == pytest.approx(0.55)  # linear from 0.1 to base(0.1) = 1
    assert sched(0.2) == 1.0 and sched(0.6) == 0.1
    constant = WarmupParamScheduler(base, warmup_factor=0.1, warmup_length=0.1, warmup_method="constant")
    assert constant(0.05) == pytest.approx(0.1)
    cosine = WarmupParamScheduler(CosineParamScheduler(1.0, 0.0), 0.0, 0.5, rescale_interval=True)
    assert cosine(0.25) == pytest.approx(0.5)  # warmup ends at cosine(0) = 1 when the interval is rescaled
    assert cosine(0.75) == pytest.approx(0.5)  # the cosine runs over the remaining half
    with pytest.raises(ValueError, match="warmup_method"):
        WarmupParamScheduler(base, 0.1, 0.1, warmup_method="quadratic")


def test_lr_multiplier_applies_a_param_scheduler():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [param], "lr": 2.0}], lr=2.0)
    sched = LRMultiplier(
        optimizer, WarmupParamScheduler(MultiStepParamScheduler([1.0, 0.1], 10, [5]), 0.5, 0.2), max_iter=10
    )
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    assert lrs == pytest.approx([1.0, 1.5, 2.0, 2.0, 2.0, 0.2, 0.2, 0.2, 0.2, 0.2])
    with pytest.raises(ValueError, match="param scheduler"):
        LRMultiplier(optimizer, 0.5, max_iter=10)
