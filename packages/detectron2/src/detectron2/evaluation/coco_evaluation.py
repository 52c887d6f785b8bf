"""``detectron2.evaluation.coco_evaluation``: ``modet.evaluation.coco_evaluation`` under detectron2's module path (the same objects)."""

from modet.evaluation.coco_evaluation import *  # noqa: F403
