"""``detectron2.modeling.meta_arch.dense_detector``: ``modet.modeling.meta_arch.dense_detector`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.dense_detector import *  # noqa: F403
