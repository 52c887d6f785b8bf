"""``detectron2.data.transforms``: ``modet.data.transforms`` under detectron2's module path (the same objects)."""

from modet.data.transforms import *  # noqa: F403
