"""``detectron2.utils.collect_env``: ``modet.engine.collect_env`` under detectron2's module path (the same objects)."""

from modet.engine.collect_env import *  # noqa: F403
