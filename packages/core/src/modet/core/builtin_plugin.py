"""modet-core's own plugin: the top-level config keys every detectron2 config has, and the keys
read by packages that do not depend on each other (each key lives in the lowest package all
its readers depend on)."""

from __future__ import annotations

from .config import CfgNode, Range, section
from .hookspecs import hookimpl


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    cfg.VERSION = 2
    cfg.OUTPUT_DIR = "./output"
    # -1 draws a random seed; a fixed value makes runs repeatable.
    cfg.SEED = -1
    cfg.CUDNN_BENCHMARK = False
    # "" keeps torch's default; "high"/"medium" allow TF32 matmuls on Ampere GPUs and later.
    cfg.FLOAT32_PRECISION = ""
    cfg.VIS_PERIOD = 0
    section(cfg, "GLOBAL").HACK = 1.0

    # Read by modet-modeling, modet-data and modet-engine's DefaultPredictor.
    inp = section(cfg, "INPUT")
    # Channel order of the model's input images: "BGR" (detectron2's weights) or "RGB".
    inp.FORMAT = "BGR"
    # Test-time resize: shorter side to MIN_SIZE_TEST, longer side at most MAX_SIZE_TEST (0: no resize).
    inp.MIN_SIZE_TEST = 800
    inp.MAX_SIZE_TEST = 1333

    # Read by modet-modeling (which heads to build) and modet-data (which annotations to load).
    model = section(cfg, "MODEL")
    model.MASK_ON = False
    model.KEYPOINT_ON = False

    # Read by modet-data (batch size of the train loader) and modet-engine (the solver).
    # Images per batch across all machines (IMS_PER_BATCH / world size per process).
    section(cfg, "SOLVER").IMS_PER_BATCH = 16

    cfg.add_checks(
        {
            "SEED": Range(min=-1, integer=True),
            "VIS_PERIOD": Range(min=0, integer=True),
            "INPUT.MIN_SIZE_TEST": Range(min=0, integer=True),
            "INPUT.MAX_SIZE_TEST": Range(min=0, integer=True),
            "SOLVER.IMS_PER_BATCH": Range(min=1, integer=True),
        }
    )
