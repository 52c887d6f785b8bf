"""modet-modeling's own plugin: detectron2's built-in components and the MODEL/TEST config keys it reads.

Built-ins register through the same hook a third-party package uses. Registration is lazy
(``"module:attr"``), so nothing is imported until a config names it.
"""

from __future__ import annotations

from modet.core import hookimpl
from modet.core.config import CfgNode
from modet.core.registry import ComponentRegistry

# kind -> {registered name: module under modet.modeling}; the module's attribute has the registered name.
BUILTIN_COMPONENTS: dict[str, dict[str, str]] = {
    "meta_arch": {
        "GeneralizedRCNN": "meta_arch.rcnn",
        "ProposalNetwork": "meta_arch.rcnn",
        "RetinaNet": "meta_arch.retinanet",
        "SemanticSegmentor": "meta_arch.semantic_seg",
        "PanopticFPN": "meta_arch.panoptic_fpn",
    },
    "backbone": {
        "build_resnet_backbone": "backbone.resnet",
        "build_resnet_fpn_backbone": "backbone.fpn",
        "build_retinanet_resnet_fpn_backbone": "backbone.fpn",
    },
    "proposal_generator": {"RPN": "proposal_generator.rpn", "RRPN": "proposal_generator.rrpn"},
    "rpn_head": {"StandardRPNHead": "proposal_generator.rpn"},
    "anchor_generator": {"DefaultAnchorGenerator": "anchor_generator", "RotatedAnchorGenerator": "anchor_generator"},
    "roi_heads": {
        "Res5ROIHeads": "roi_heads.roi_heads",
        "StandardROIHeads": "roi_heads.roi_heads",
        "CascadeROIHeads": "roi_heads.cascade_rcnn",
        "RROIHeads": "roi_heads.rotated_fast_rcnn",
    },
    "roi_box_head": {"FastRCNNConvFCHead": "roi_heads.box_head"},
    "roi_mask_head": {"MaskRCNNConvUpsampleHead": "roi_heads.mask_head"},
    "roi_keypoint_head": {"KRCNNConvDeconvUpsampleHead": "roi_heads.keypoint_head"},
    "sem_seg_head": {"SemSegFPNHead": "meta_arch.semantic_seg"},
}


@hookimpl
def modet_register_components(registry: ComponentRegistry) -> None:
    """Register the built-in components lazily (``"module:attr"``), imported when a config names one."""
    for kind, components in BUILTIN_COMPONENTS.items():
        for name, module in components.items():
            registry.register_lazy(kind, name, f"modet.modeling.{module}:{name}")


@hookimpl
def modet_add_config(cfg: CfgNode) -> None:
    """Add the MODEL.* and TEST.* keys with detectron2's defaults."""
    # deferred: every `modet` command imports this plugin; the keys load when a config is made
    from .config import add_modeling_config

    add_modeling_config(cfg)
