"""``detectron2.utils.env``: ``modet.engine.env`` under detectron2's module path (the same objects)."""

from modet.engine.env import *  # noqa: F403
