"""``detectron2.modeling.backbone.resnet``: ``modet.modeling.backbone.resnet`` under detectron2's module path (the same objects)."""

from modet.modeling.backbone.resnet import *  # noqa: F403
