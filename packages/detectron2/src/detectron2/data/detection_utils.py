"""``detectron2.data.detection_utils``: ``modet.data.detection_utils`` under detectron2's module path (the same objects)."""

from modet.data.detection_utils import *  # noqa: F403
