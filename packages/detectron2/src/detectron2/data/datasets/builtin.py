"""``detectron2.data.datasets.builtin``: ``modet.data.datasets.builtin`` under detectron2's module path (the same objects)."""

from modet.data.datasets.builtin import *  # noqa: F403
