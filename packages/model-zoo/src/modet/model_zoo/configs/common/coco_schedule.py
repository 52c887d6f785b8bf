"""Learning-rate multipliers of the "Nx" COCO schedules (1x = 90k iterations of 16 images).

The LR drops to 0.1 and then 0.01 of its value; up to 2x the drops are at 6/9 and 8/9 of 1x,
longer schedules drop 60k and 20k iterations before their end. Every schedule starts with a
linear warmup of 1000 iterations from 0.001 of the LR.
"""

from modet.core.config import LazyCall as L
from modet.engine.solver import WarmupParamScheduler
from modet.engine.solver.param_scheduler import MultiStepParamScheduler


def default_X_scheduler(num_X):
    """The LR multiplier (a LazyCall of ``WarmupParamScheduler``) of the ``num_X``x schedule."""
    total_steps_16bs = num_X * 90000
    if num_X <= 2:
        milestones = [60000, 80000, 90000]  # the multiplier only sees progress: same as [6, 8, 9]
    else:
        milestones = [total_steps_16bs - 60000, total_steps_16bs - 20000, total_steps_16bs]
    return L(WarmupParamScheduler)(
        scheduler=L(MultiStepParamScheduler)(values=[1.0, 0.1, 0.01], milestones=milestones),
        warmup_length=1000 / total_steps_16bs,
        warmup_method="linear",
        warmup_factor=0.001,
    )


lr_multiplier_1x = default_X_scheduler(1)
lr_multiplier_2x = default_X_scheduler(2)
lr_multiplier_3x = default_X_scheduler(3)
lr_multiplier_6x = default_X_scheduler(6)
lr_multiplier_9x = default_X_scheduler(9)
