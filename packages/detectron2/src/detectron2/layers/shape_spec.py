"""``detectron2.layers.shape_spec``: ``modet.ops.shape_spec`` under detectron2's module path (the same objects)."""

from modet.ops.shape_spec import *  # noqa: F403
