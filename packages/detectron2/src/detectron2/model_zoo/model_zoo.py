"""``detectron2.model_zoo.model_zoo``: ``modet.model_zoo.model_zoo`` under detectron2's module path (the same objects)."""

from modet.model_zoo.model_zoo import *  # noqa: F403
