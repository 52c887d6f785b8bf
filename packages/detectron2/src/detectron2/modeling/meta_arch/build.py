"""``detectron2.modeling.meta_arch.build``: ``modet.modeling.meta_arch.build`` under detectron2's module path (the same objects)."""

from modet.modeling.meta_arch.build import *  # noqa: F403
