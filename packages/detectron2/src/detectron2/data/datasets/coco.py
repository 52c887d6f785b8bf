"""``detectron2.data.datasets.coco``: ``modet.data.datasets.coco`` under detectron2's module path (the same objects)."""

from modet.data.datasets.coco import *  # noqa: F403
