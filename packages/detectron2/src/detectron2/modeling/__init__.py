"""``detectron2.modeling``: ``modet.modeling`` under detectron2's module path (the same objects)."""

from modet.modeling import *  # noqa: F403
