"""``detectron2.data.transforms.augmentation_impl``: ``modet.data.transforms.augmentation_impl`` under detectron2's module path (the same objects)."""

from modet.data.transforms.augmentation_impl import *  # noqa: F403
