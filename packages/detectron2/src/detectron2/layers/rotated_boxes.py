"""``detectron2.layers.rotated_boxes``: ``modet.ops.rotated_boxes`` under detectron2's module path (the same objects)."""

from modet.ops.rotated_boxes import *  # noqa: F403
