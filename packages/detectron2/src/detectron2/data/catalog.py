"""``detectron2.data.catalog``: ``modet.data.catalog`` under detectron2's module path (the same objects)."""

from modet.data.catalog import *  # noqa: F403
