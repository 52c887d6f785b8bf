"""``detectron2.layers.roi_align``: ``modet.ops.roi_align`` under detectron2's module path (the same objects)."""

from modet.ops.roi_align import *  # noqa: F403
