"""``detectron2.modeling.backbone``: ``modet.modeling.backbone`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone import *  # noqa: F403
