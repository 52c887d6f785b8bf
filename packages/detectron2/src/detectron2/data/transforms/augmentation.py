"""``detectron2.data.transforms.augmentation``: ``modet.data.transforms.augmentation`` under detectron2's module path (the same objects)."""

from modet.data.transforms.augmentation import *  # noqa: F403
