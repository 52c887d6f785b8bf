"""``detectron2.config.instantiate``: ``modet.core.config.instantiate`` under detectron2's module path (the same objects)."""

from modet.core.config.instantiate import *  # noqa: F403
