"""``detectron2.layers.nms``: ``modet.ops.nms`` under detectron2's module path (the same objects)."""

from modet.ops.nms import *  # noqa: F403
