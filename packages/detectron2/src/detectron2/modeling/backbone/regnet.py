"""``detectron2.modeling.backbone.regnet``: ``modet.modeling.backbone.regnet`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone.regnet import *  # noqa: F403
