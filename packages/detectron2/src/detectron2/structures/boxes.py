"""``detectron2.structures.boxes``: ``modet.structures.boxes`` under detectron2's module path (the same objects)."""

from modet.structures.boxes import *  # noqa: F403
