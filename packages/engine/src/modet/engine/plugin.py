"""modet-engine's own plugin: the ``SOLVER`` config section, with detectron2's defaults."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, section


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    solver = section(cfg, "SOLVER")
    # "WarmupMultiStepLR", "WarmupCosineLR" or "WarmupStepWithFixedGammaLR".
    solver.LR_SCHEDULER_NAME = "WarmupMultiStepLR"
    solver.MAX_ITER = 40000
    solver.BASE_LR = 0.001
    # End value of WarmupCosineLR (as an absolute learning rate).
    solver.BASE_LR_END = 0.0
    solver.MOMENTUM = 0.9
    solver.NESTEROV = False
    solver.WEIGHT_DECAY = 0.0001
    # Weight decay of the parameters of normalization layers.
    solver.WEIGHT_DECAY_NORM = 0.0
    solver.GAMMA = 0.1
    # Iterations at which WarmupMultiStepLR multiplies the learning rate by GAMMA.
    solver.STEPS = (30000,)
    # Number of decays of WarmupStepWithFixedGammaLR.
    solver.NUM_DECAYS = 3
    solver.WARMUP_FACTOR = 1.0 / 1000
    solver.WARMUP_ITERS = 1000
    solver.WARMUP_METHOD = "linear"
    # Whether the schedule after warmup is rescaled to the interval left after warmup.
    solver.RESCALE_INTERVAL = False
    solver.CHECKPOINT_PERIOD = 5000
    # Images per batch across all machines (IMS_PER_BATCH / world size per process).
    solver.IMS_PER_BATCH = 16
    # World size the solver values were tuned for; non-zero rescales them to the actual one.
    solver.REFERENCE_WORLD_SIZE = 0
    solver.BIAS_LR_FACTOR = 1.0
    # None: biases use WEIGHT_DECAY.
    solver.WEIGHT_DECAY_BIAS = None
    clip = section(cfg, "SOLVER.CLIP_GRADIENTS")
    clip.ENABLED = False
    # "value": clamp each gradient element; "norm": clip each parameter's gradient norm;
    # "full_model": clip the norm of all gradients together.
    clip.CLIP_TYPE = "value"
    clip.CLIP_VALUE = 1.0
    # p of the L_p norm for "norm" and "full_model" (inf allowed).
    clip.NORM_TYPE = 2.0
    section(cfg, "SOLVER.AMP").ENABLED = False
