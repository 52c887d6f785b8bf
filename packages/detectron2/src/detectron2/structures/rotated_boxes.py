"""``detectron2.structures.rotated_boxes``: ``modet.structures.rotated_boxes`` under detectron2's module path (the same objects)."""

from modet.structures.rotated_boxes import *  # noqa: F403
