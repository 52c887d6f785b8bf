"""``detectron2.structures.masks``: ``modet.structures.masks`` under detectron2's module path (the same objects)."""

from modet.structures.masks import *  # noqa: F403
