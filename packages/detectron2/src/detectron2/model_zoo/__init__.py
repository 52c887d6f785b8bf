"""``detectron2.model_zoo``: ``modet.modeling.model_zoo`` under detectron2's module path (the same objects)."""

from modet.modeling.model_zoo import *  # noqa: F403
