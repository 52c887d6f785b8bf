"""``detectron2.modeling.roi_heads.cascade_rcnn``: ``modet.modeling.roi_heads.cascade_rcnn`` under detectron2's module path (the same objects)."""

from modet.modeling.roi_heads.cascade_rcnn import *  # noqa: F403
