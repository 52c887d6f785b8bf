"""``detectron2.config.compat``: ``modet.core.config.compat`` under detectron2's module path (the same objects)."""

from modet.core.config.compat import *  # noqa: F403
