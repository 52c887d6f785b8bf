"""``detectron2.modeling.matcher``: ``modet.modeling.matcher`` under detectron2's module path (the same objects)."""

from modet.modeling.matcher import *  # noqa: F403
