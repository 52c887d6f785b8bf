"""``detectron2.layers.aspp``: ``modet.ops.aspp`` under detectron2's module path (the same objects)."""

from modet.ops.aspp import *  # noqa: F403
