"""``detectron2.structures``: ``modet.structures`` under detectron2's module path (the same objects)."""

from modet.structures import *  # noqa: F403
