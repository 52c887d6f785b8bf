"""``detectron2.data.dataset_mapper``: ``modet.data.dataset_mapper`` under detectron2's module path (the same objects)."""

from modet.data.dataset_mapper import *  # noqa: F403
