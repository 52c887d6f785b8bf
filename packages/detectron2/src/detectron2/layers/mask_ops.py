"""``detectron2.layers.mask_ops``: ``modet.ops.mask_ops`` under detectron2's module path (the same objects)."""

from modet.ops.mask_ops import *  # noqa: F403
