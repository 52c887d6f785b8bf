"""Panoptic FPN: the FPN Mask R-CNN plus a semantic head for COCO's 53 stuff classes (+1 for things)."""

from modet.core.config import LazyCall as L
from modet.modeling.meta_arch import PanopticFPN
from modet.modeling.meta_arch.semantic_seg import SemSegFPNHead
from modet.ops import ShapeSpec

from .mask_rcnn_fpn import model

model._target_ = PanopticFPN
model.sem_seg_head = L(SemSegFPNHead)(
    input_shape={
        f: L(ShapeSpec)(stride=s, channels="${....backbone.out_channels}")
        for f, s in zip(["p2", "p3", "p4", "p5"], [4, 8, 16, 32])
    },
    ignore_value=255,
    num_classes=54,
    conv_dims=128,
    common_stride=4,
    loss_weight=0.5,
    norm="GN",
)
