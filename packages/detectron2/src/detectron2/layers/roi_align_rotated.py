"""``detectron2.layers.roi_align_rotated``: ``modet.ops.roi_align_rotated`` under detectron2's module path (the same objects)."""

from modet.ops.roi_align_rotated import *  # noqa: F403
