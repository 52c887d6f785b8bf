"""``detectron2.layers.wrappers``: ``modet.ops.wrappers`` under detectron2's module path (the same objects)."""

from modet.ops.wrappers import *  # noqa: F403
