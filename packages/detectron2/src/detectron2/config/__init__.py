"""``detectron2.config``: ``modet.core.config`` under detectron2's module path (the same objects)."""

from modet.core.config import *  # noqa: F403
