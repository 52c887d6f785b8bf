"""``detectron2.engine.defaults``: ``modet.engine.defaults`` under detectron2's module path (the same objects)."""

from modet.engine.defaults import *  # noqa: F403
