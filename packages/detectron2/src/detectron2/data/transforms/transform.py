"""``detectron2.data.transforms.transform``: ``modet.data.transforms.transform`` under detectron2's module path (the same objects)."""

from modet.data.transforms.transform import *  # noqa: F403
