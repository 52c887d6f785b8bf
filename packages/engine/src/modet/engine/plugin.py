"""modet-engine's own plugin: the ``SOLVER`` config section (but ``SOLVER.IMS_PER_BATCH``, which
modet-data reads too and modet-core defines) and the ``TEST`` keys of training-time evaluation,
with detectron2's defaults, the ``modet`` subcommands (``info``, ``predict``,
``train``, ``demo``) and the inference modes "eager", "compile" and "bfloat16"."""

from __future__ import annotations

from typing import Any

from modet.core import hookimpl
from modet.core.config import CfgNode, OneOf, Range, section

from .cli import ENGINE_SUBCOMMANDS


@hookimpl
def modet_subcommands() -> dict[str, Any]:
    return dict(ENGINE_SUBCOMMANDS)


@hookimpl
def modet_inference_modes() -> dict[str, Any]:
    from .inference_modes import ENGINE_MODES  # imports torch: only when a predictor asks

    return dict(ENGINE_MODES)


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

    test = section(cfg, "TEST")
    # Evaluate on DATASETS.TEST every EVAL_PERIOD iterations while training (0: only at the end).
    test.EVAL_PERIOD = 0
    # Recompute BatchNorm statistics over NUM_ITER batches before each evaluation.
    precise_bn = section(cfg, "TEST.PRECISE_BN")
    precise_bn.ENABLED = False
    precise_bn.NUM_ITER = 200

    cfg.add_checks(
        {
            "SOLVER.LR_SCHEDULER_NAME": OneOf(["WarmupMultiStepLR", "WarmupCosineLR", "WarmupStepWithFixedGammaLR"]),
            "SOLVER.MAX_ITER": Range(min=0, integer=True),
            "SOLVER.BASE_LR": Range(min=0.0),
            "SOLVER.WEIGHT_DECAY": Range(min=0.0),
            "SOLVER.GAMMA": Range(min=0.0),
            "SOLVER.WARMUP_FACTOR": Range(min=0.0, max=1.0),
            "SOLVER.WARMUP_ITERS": Range(min=0, integer=True),
            "SOLVER.WARMUP_METHOD": OneOf(["linear", "constant"]),
            "SOLVER.CHECKPOINT_PERIOD": Range(min=1, integer=True),
            "SOLVER.REFERENCE_WORLD_SIZE": Range(min=0, integer=True),
            "SOLVER.CLIP_GRADIENTS.CLIP_TYPE": OneOf(["value", "norm", "full_model"]),
            "TEST.EVAL_PERIOD": Range(min=0, integer=True),
            "TEST.PRECISE_BN.NUM_ITER": Range(min=1, integer=True),
        }
    )
