"""``detectron2.structures.image_list``: ``modet.structures.image_list`` under detectron2's module path (the same objects)."""

from modet.structures.image_list import *  # noqa: F403
