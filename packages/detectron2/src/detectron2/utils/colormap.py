"""``detectron2.utils.colormap``: ``modet.engine.colormap`` under detectron2's module path (the same objects)."""

from modet.engine.colormap import *  # noqa: F403
