"""``detectron2.data.common``: ``modet.data.common`` under detectron2's module path (the same objects)."""

from modet.data.common import *  # noqa: F403
