"""``detectron2.layers``: ``modet.ops`` under detectron2's module path (the same objects)."""

from modet.ops import *  # noqa: F403
