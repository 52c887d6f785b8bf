"""``detectron2.engine``: ``modet.engine`` under detectron2's module path (the same objects)."""

from modet.engine import *  # noqa: F403
