"""``detectron2.utils.logger``: ``modet.core.logger`` under detectron2's module path (the same objects)."""

from modet.core.logger import *  # noqa: F403
