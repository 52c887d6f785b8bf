"""``detectron2.modeling.backbone.backbone``: ``modet.modeling.backbone.backbone`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone.backbone import *  # noqa: F403
