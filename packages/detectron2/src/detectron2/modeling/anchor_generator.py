"""``detectron2.modeling.anchor_generator``: ``modet.modeling.anchor_generator`` under detectron2's module path (the same objects)."""

from modet.modeling.anchor_generator import *  # noqa: F403
