"""``detectron2.data.build``: ``modet.data.build`` under detectron2's module path (the same objects)."""

from modet.data.build import *  # noqa: F403
