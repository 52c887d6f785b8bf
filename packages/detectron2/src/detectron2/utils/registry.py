"""``detectron2.utils.registry``: ``modet.core.registry`` under detectron2's module path (the same objects)."""

from modet.core.registry import *  # noqa: F403
