"""Dataset loaders (COCO format) and the embedded ``shapes`` dataset."""

from .coco import (
    COCOFormatError,
    convert_to_coco_dict,
    convert_to_coco_json,
    load_coco_json,
    load_sem_seg,
    register_coco_instances,
)
from .shapes import generate_shapes_dataset, register_shapes

__all__ = [
    "COCOFormatError",
    "convert_to_coco_dict",
    "convert_to_coco_json",
    "generate_shapes_dataset",
    "load_coco_json",
    "load_sem_seg",
    "register_coco_instances",
    "register_shapes",
]
