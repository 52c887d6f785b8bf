"""``detectron2.utils.visualizer``: ``modet.engine.visualizer`` under detectron2's module path (the same objects)."""

from modet.engine.visualizer import *  # noqa: F403
