"""``detectron2.layers.batch_norm``: ``modet.ops.batch_norm`` under detectron2's module path (the same objects)."""

from modet.ops.batch_norm import *  # noqa: F403
