"""Keypoint R-CNN: the FPN Mask R-CNN with a 17-keypoint head instead of the mask head, one class."""

from modet.core.config import LazyCall as L
from modet.modeling.roi_heads import KRCNNConvDeconvUpsampleHead
from modet.ops import ShapeSpec
from modet.ops.poolers import ROIPooler

from .mask_rcnn_fpn import model

for key in ("mask_in_features", "mask_pooler", "mask_head"):
    model.roi_heads.pop(key)

model.roi_heads.update(
    num_classes=1,
    keypoint_in_features=["p2", "p3", "p4", "p5"],
    keypoint_pooler=L(ROIPooler)(
        output_size=14,
        scales=(1.0 / 4, 1.0 / 8, 1.0 / 16, 1.0 / 32),
        sampling_ratio=0,
        pooler_type="ROIAlignV2",
    ),
    keypoint_head=L(KRCNNConvDeconvUpsampleHead)(
        input_shape=ShapeSpec(channels=256, width=14, height=14),
        num_keypoints=17,
        conv_dims=[512] * 8,
        loss_normalizer="visible",
    ),
)

# 1500 proposals per image in training (1000, detectron2's per-image default, lowers box AP here)
model.proposal_generator.post_nms_topk = (1500, 1000)

# smooth L1 for boxes: plain L1 lowers keypoint AP
model.roi_heads.box_predictor.smooth_l1_beta = 0.5
