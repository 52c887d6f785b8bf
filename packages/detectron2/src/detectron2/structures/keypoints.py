"""``detectron2.structures.keypoints``: ``modet.structures.keypoints`` under detectron2's module path (the same objects)."""

from modet.structures.keypoints import *  # noqa: F403
