"""``detectron2.modeling.poolers``: ``modet.ops.poolers`` under detectron2's module path (the same objects)."""

from modet.ops.poolers import *  # noqa: F403
