"""``detectron2.checkpoint.c2_model_loading``: ``modet.checkpoint.c2_model_loading`` under detectron2's module path (the same objects)."""

from modet.checkpoint.c2_model_loading import *  # noqa: F403
