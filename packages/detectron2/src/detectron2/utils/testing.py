"""``detectron2.utils.testing``: ``modet.structures.testing`` under detectron2's module path (the same objects)."""

from modet.structures.testing import *  # noqa: F403
