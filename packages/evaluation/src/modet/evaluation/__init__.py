"""modet-evaluation: detectron2's evaluators (COCO AP, panoptic quality, semantic segmentation) and inference loop."""

from importlib.metadata import version as _distribution_version

from .coco_evaluation import COCOEvaluator, instances_to_coco_json
from .evaluator import DatasetEvaluator, DatasetEvaluators, inference_context, inference_on_dataset
from .panoptic_evaluation import COCOPanopticEvaluator
from .sem_seg_evaluation import SemSegEvaluator
from .testing import print_csv_format, verify_results

__version__ = _distribution_version("modet-evaluation")  # the one source of the version is pyproject.toml

__all__ = [
    "COCOEvaluator",
    "COCOPanopticEvaluator",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "SemSegEvaluator",
    "inference_context",
    "inference_on_dataset",
    "instances_to_coco_json",
    "print_csv_format",
    "verify_results",
]
