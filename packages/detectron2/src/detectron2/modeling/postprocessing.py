"""``detectron2.modeling.postprocessing``: ``modet.modeling.postprocessing`` under detectron2's module path (the same objects)."""

from modet.modeling.postprocessing import *  # noqa: F403
