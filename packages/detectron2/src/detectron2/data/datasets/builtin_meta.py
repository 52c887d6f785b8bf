"""``detectron2.data.datasets.builtin_meta``: ``modet.data.datasets.builtin_meta`` under detectron2's module path (the same objects)."""

from modet.data.datasets.builtin_meta import *  # noqa: F403
