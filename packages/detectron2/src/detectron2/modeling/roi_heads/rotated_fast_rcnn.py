"""``detectron2.modeling.roi_heads.rotated_fast_rcnn``: ``modet.modeling.roi_heads.rotated_fast_rcnn`` under detectron2's module path (the same objects)."""

from modet.modeling.roi_heads.rotated_fast_rcnn import *  # noqa: F403
