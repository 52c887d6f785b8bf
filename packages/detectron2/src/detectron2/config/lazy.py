"""``detectron2.config.lazy``: ``modet.core.config.lazy`` under detectron2's module path (the same objects)."""

from modet.core.config.lazy import *  # noqa: F403
