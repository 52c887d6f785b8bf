"""``detectron2.data.datasets``: ``modet.data.datasets`` under detectron2's module path (the same objects)."""

from modet.data.datasets import *  # noqa: F403
