"""``detectron2.modeling.meta_arch``: ``modet.modeling.meta_arch`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch import *  # noqa: F403
