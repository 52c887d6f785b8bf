"""``detectron2.modeling.meta_arch.retinanet``: ``modet.modeling.meta_arch.retinanet`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.retinanet import *  # noqa: F403
