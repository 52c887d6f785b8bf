"""``detectron2.modeling.roi_heads.mask_head``: ``modet.modeling.roi_heads.mask_head`` under detectron2's module path (the same objects)."""

from modet.modeling.roi_heads.mask_head import *  # noqa: F403
