"""``detectron2.utils.memory``: ``modet.engine.memory`` under detectron2's module path (the same objects)."""

from modet.engine.memory import *  # noqa: F403
