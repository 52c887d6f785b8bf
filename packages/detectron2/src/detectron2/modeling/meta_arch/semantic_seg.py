"""``detectron2.modeling.meta_arch.semantic_seg``: ``modet.modeling.meta_arch.semantic_seg`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.semantic_seg import *  # noqa: F403
