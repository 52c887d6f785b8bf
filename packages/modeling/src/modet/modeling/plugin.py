"""modet-modeling's own plugin: detectron2's built-in components and the MODEL/INPUT/TEST config.

Built-ins register through the same hook a third-party package uses. Registration is lazy
(``"module:attr"``), so nothing is imported until a config names it.
"""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode
from modet.core.registry import ComponentRegistry

_PKG = "modet.modeling"

BUILTIN_COMPONENTS: dict[str, dict[str, str]] = {
    "meta_arch": {
        "GeneralizedRCNN": f"{_PKG}.meta_arch.rcnn:GeneralizedRCNN",
        "ProposalNetwork": f"{_PKG}.meta_arch.rcnn:ProposalNetwork",
        "RetinaNet": f"{_PKG}.meta_arch.retinanet:RetinaNet",
        "SemanticSegmentor": f"{_PKG}.meta_arch.semantic_seg:SemanticSegmentor",
        "PanopticFPN": f"{_PKG}.meta_arch.panoptic_fpn:PanopticFPN",
    },
    "backbone": {
        "build_resnet_backbone": f"{_PKG}.backbone.resnet:build_resnet_backbone",
        "build_resnet_fpn_backbone": f"{_PKG}.backbone.fpn:build_resnet_fpn_backbone",
        "build_retinanet_resnet_fpn_backbone": f"{_PKG}.backbone.fpn:build_retinanet_resnet_fpn_backbone",
    },
    "proposal_generator": {"RPN": f"{_PKG}.proposal_generator.rpn:RPN"},
    "rpn_head": {"StandardRPNHead": f"{_PKG}.proposal_generator.rpn:StandardRPNHead"},
    "anchor_generator": {"DefaultAnchorGenerator": f"{_PKG}.anchor_generator:DefaultAnchorGenerator"},
    "roi_heads": {
        "Res5ROIHeads": f"{_PKG}.roi_heads.roi_heads:Res5ROIHeads",
        "StandardROIHeads": f"{_PKG}.roi_heads.roi_heads:StandardROIHeads",
        "CascadeROIHeads": f"{_PKG}.roi_heads.cascade_rcnn:CascadeROIHeads",
    },
    "roi_box_head": {"FastRCNNConvFCHead": f"{_PKG}.roi_heads.box_head:FastRCNNConvFCHead"},
    "roi_mask_head": {"MaskRCNNConvUpsampleHead": f"{_PKG}.roi_heads.mask_head:MaskRCNNConvUpsampleHead"},
    "roi_keypoint_head": {"KRCNNConvDeconvUpsampleHead": f"{_PKG}.roi_heads.keypoint_head:KRCNNConvDeconvUpsampleHead"},
    "sem_seg_head": {"SemSegFPNHead": f"{_PKG}.meta_arch.semantic_seg:SemSegFPNHead"},
}


@hookimpl
def modet_register_components(registry: ComponentRegistry) -> None:
    for kind, components in BUILTIN_COMPONENTS.items():
        for name, target in components.items():
            registry.register_lazy(kind, name, target)


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    from .config import add_modeling_config

    add_modeling_config(cfg)
