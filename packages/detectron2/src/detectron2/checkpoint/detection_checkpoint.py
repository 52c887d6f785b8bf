"""``detectron2.checkpoint.detection_checkpoint``: ``modet.checkpoint.detection_checkpoint`` under detectron2's module path (the same objects)."""

from modet.checkpoint.detection_checkpoint import *  # noqa: F403
