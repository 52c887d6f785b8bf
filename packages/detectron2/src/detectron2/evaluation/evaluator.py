"""``detectron2.evaluation.evaluator``: ``modet.evaluation.evaluator`` under detectron2's module path (the same objects)."""

from modet.evaluation.evaluator import *  # noqa: F403
