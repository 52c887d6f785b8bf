"""``detectron2.utils.comm``: ``modet.engine.comm`` under detectron2's module path (the same objects)."""

from modet.engine.comm import *  # noqa: F403
