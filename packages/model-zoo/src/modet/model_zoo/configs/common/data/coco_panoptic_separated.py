"""COCO panoptic segmentation, as instances plus semantic stuff ("separated"), and its three evaluators."""

from modet.core.config import LazyCall as L
from modet.evaluation import COCOEvaluator, COCOPanopticEvaluator, SemSegEvaluator

from .coco import dataloader

dataloader.train.dataset.names = "coco_2017_train_panoptic_separated"
dataloader.train.dataset.filter_empty = False
dataloader.test.dataset.names = "coco_2017_val_panoptic_separated"

dataloader.evaluator = [
    L(COCOEvaluator)(dataset_name="${...test.dataset.names}"),
    L(SemSegEvaluator)(dataset_name="${...test.dataset.names}"),
    L(COCOPanopticEvaluator)(dataset_name="${...test.dataset.names}"),
]
