"""``detectron2.evaluation.sem_seg_evaluation``: ``modet.evaluation.sem_seg_evaluation`` under detectron2's module path (the same objects)."""

from modet.evaluation.sem_seg_evaluation import *  # noqa: F403
