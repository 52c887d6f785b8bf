"""``detectron2.modeling.meta_arch.rcnn``: ``modet.modeling.meta_arch.rcnn`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.rcnn import *  # noqa: F403
