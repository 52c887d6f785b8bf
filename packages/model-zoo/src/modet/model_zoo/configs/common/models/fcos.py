"""FCOS: the RetinaNet model made anchor-free, with a GroupNorm head and P6/P7 computed from P5."""

from modet.modeling.meta_arch.fcos import FCOS, FCOSHead

from .retinanet import model

model._target_ = FCOS

for key in ("anchor_generator", "box2box_transform", "anchor_matcher", "input_format"):
    del model[key]

model.backbone.top_block.in_feature = "p5"
model.backbone.top_block.in_channels = 256

# score threshold on sqrt(classification score * centerness)
model.test_score_thresh = 0.2
model.test_nms_thresh = 0.6

model.head._target_ = FCOSHead
del model.head.num_anchors
model.head.norm = "GN"
