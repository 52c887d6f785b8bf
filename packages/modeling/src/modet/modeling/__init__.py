"""modet.modeling: detectron2.modeling's API — ``build_model``, backbones, RPN, ROI heads, meta-architectures.

Names are imported lazily on first access (PEP 562), so ``import modet.modeling`` stays cheap
and the registry can name components whose modules are imported only when a config asks.
"""

from __future__ import annotations

import importlib
from importlib.metadata import version as _distribution_version
from typing import Any

__version__ = _distribution_version("modet-modeling")  # the one source of the version is pyproject.toml

_EXPORTS: dict[str, str] = {
    # anchors
    "ANCHOR_GENERATOR_REGISTRY": "anchor_generator",
    "DefaultAnchorGenerator": "anchor_generator",
    "build_anchor_generator": "anchor_generator",
    # backbones
    "BACKBONE_REGISTRY": "backbone",
    "Backbone": "backbone",
    "FPN": "backbone",
    "ResNet": "backbone",
    "ResNetBlockBase": "backbone",
    "BasicStem": "backbone",
    "BasicBlock": "backbone",
    "BottleneckBlock": "backbone",
    "DeformBottleneckBlock": "backbone",
    "build_backbone": "backbone",
    "build_resnet_backbone": "backbone",
    "build_resnet_fpn_backbone": "backbone",
    "build_retinanet_resnet_fpn_backbone": "backbone",
    "make_stage": "backbone",
    # meta-architectures
    "META_ARCH_REGISTRY": "meta_arch",
    "SEM_SEG_HEADS_REGISTRY": "meta_arch",
    "FCOS": "meta_arch",
    "GeneralizedRCNN": "meta_arch",
    "PanopticFPN": "meta_arch",
    "ProposalNetwork": "meta_arch",
    "RetinaNet": "meta_arch",
    "SemanticSegmentor": "meta_arch",
    "build_model": "meta_arch",
    "build_sem_seg_head": "meta_arch",
    # post-processing
    "detector_postprocess": "postprocessing",
    "sem_seg_postprocess": "postprocessing",
    # proposal generators
    "PROPOSAL_GENERATOR_REGISTRY": "proposal_generator",
    "RPN_HEAD_REGISTRY": "proposal_generator",
    "build_proposal_generator": "proposal_generator",
    "build_rpn_head": "proposal_generator",
    # ROI heads
    "ROI_BOX_HEAD_REGISTRY": "roi_heads",
    "ROI_HEADS_REGISTRY": "roi_heads",
    "ROI_KEYPOINT_HEAD_REGISTRY": "roi_heads",
    "ROI_MASK_HEAD_REGISTRY": "roi_heads",
    "ROIHeads": "roi_heads",
    "StandardROIHeads": "roi_heads",
    "BaseMaskRCNNHead": "roi_heads",
    "BaseKeypointRCNNHead": "roi_heads",
    "FastRCNNOutputLayers": "roi_heads",
    "build_box_head": "roi_heads",
    "build_keypoint_head": "roi_heads",
    "build_mask_head": "roi_heads",
    "build_roi_heads": "roi_heads",
    # box regression and matching (detectron2.modeling.box_regression / matcher)
    "Box2BoxTransform": "box_regression",
    "Box2BoxTransformRotated": "box_regression",
    "Box2BoxTransformLinear": "box_regression",
    "Matcher": "matcher",
    "subsample_labels": "sampling",
    # configuration
    "add_modeling_config": "config",
}

__all__ = sorted([*_EXPORTS, "ShapeSpec"])


def __getattr__(name: str) -> Any:
    if name == "ShapeSpec":
        from modet.ops import ShapeSpec  # loaded on first use, like every name of this module

        return ShapeSpec
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'modet.modeling' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module_name}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
