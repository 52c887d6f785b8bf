"""``detectron2.modeling.roi_heads.roi_heads``: ``modet.modeling.roi_heads.roi_heads`` under detectron2's module path (the same objects)."""

from modet.modeling.roi_heads.roi_heads import *  # noqa: F403
