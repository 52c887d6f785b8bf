"""``detectron2.data``: ``modet.data`` under detectron2's module path (the same objects)."""

from modet.data import *  # noqa: F403
