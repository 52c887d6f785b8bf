"""``detectron2.layers.blocks``: ``modet.ops.blocks`` under detectron2's module path (the same objects)."""

from modet.ops.blocks import *  # noqa: F403
