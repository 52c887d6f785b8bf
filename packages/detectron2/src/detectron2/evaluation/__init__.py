"""``detectron2.evaluation``: ``modet.evaluation`` under detectron2's module path (the same objects)."""

from modet.evaluation import *  # noqa: F403
