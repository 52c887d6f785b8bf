"""``detectron2.layers.losses``: ``modet.ops.losses`` under detectron2's module path (the same objects)."""

from modet.ops.losses import *  # noqa: F403
