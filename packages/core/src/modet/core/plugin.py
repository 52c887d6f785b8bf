"""modet-core's own plugin: the top-level config keys every detectron2 config has."""

from __future__ import annotations

from .config import CfgNode, section
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
