"""``detectron2.modeling.meta_arch.fcos``: ``modet.modeling.meta_arch.fcos`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.fcos import *  # noqa: F403
