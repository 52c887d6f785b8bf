"""``detectron2.checkpoint``: ``modet.checkpoint`` under detectron2's module path (the same objects)."""

from modet.checkpoint import *  # noqa: F403
