"""``detectron2.utils.serialize``: ``modet.core.serialize`` under detectron2's module path (the same objects)."""

from modet.core.serialize import *  # noqa: F403
