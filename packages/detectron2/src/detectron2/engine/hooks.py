"""``detectron2.engine.hooks``: ``modet.engine.hooks`` under detectron2's module path (the same objects)."""

from modet.engine.hooks import *  # noqa: F403
