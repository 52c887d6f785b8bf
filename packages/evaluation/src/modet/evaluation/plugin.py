"""modet-evaluation's own plugin: the ``TEST`` config keys only evaluation reads, with detectron2's defaults."""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode, section


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    test = section(cfg, "TEST")
    # [[task, metric, value, tolerance], ...] checked by verify_results after evaluation.
    test.EXPECTED_RESULTS = []
    # Per-keypoint OKS sigmas for COCO keypoint AP; empty: COCO's 17 person keypoints.
    test.KEYPOINT_OKS_SIGMAS = []
