"""``detectron2.modeling.backbone.fpn``: ``modet.modeling.backbone.fpn`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone.fpn import *  # noqa: F403
