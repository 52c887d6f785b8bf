"""``detectron2.evaluation.testing``: ``modet.evaluation.testing`` under detectron2's module path (the same objects)."""

from modet.evaluation.testing import *  # noqa: F403
