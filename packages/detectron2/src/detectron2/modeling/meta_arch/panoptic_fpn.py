"""``detectron2.modeling.meta_arch.panoptic_fpn``: ``modet.modeling.meta_arch.panoptic_fpn`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.panoptic_fpn import *  # noqa: F403
