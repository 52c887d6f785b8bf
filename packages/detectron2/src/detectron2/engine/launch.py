"""``detectron2.engine.launch``: ``modet.engine.launch`` under detectron2's module path (the same objects)."""

from modet.engine.launch import *  # noqa: F403
