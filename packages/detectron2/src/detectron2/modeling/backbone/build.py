"""``detectron2.modeling.backbone.build``: ``modet.modeling.backbone.build`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone.build import *  # noqa: F403
