"""``detectron2.modeling.roi_heads.keypoint_head``: ``modet.modeling.roi_heads.keypoint_head`` under detectron2's module path (the same objects)."""

from modet.modeling.roi_heads.keypoint_head import *  # noqa: F403
