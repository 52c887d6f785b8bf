"""modet-evaluation: detectron2's evaluators (COCO AP, semantic segmentation) and inference loop."""

from .coco_evaluation import COCOEvaluator, instances_to_coco_json
from .evaluator import DatasetEvaluator, DatasetEvaluators, inference_context, inference_on_dataset
from .sem_seg_evaluation import SemSegEvaluator
from .testing import print_csv_format, verify_results

__version__ = "0.1.0"

__all__ = [
    "COCOEvaluator",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "SemSegEvaluator",
    "inference_context",
    "inference_on_dataset",
    "instances_to_coco_json",
    "print_csv_format",
    "verify_results",
]
