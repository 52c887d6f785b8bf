"""modet-data: detectron2's data API (catalogs, COCO loading, DatasetMapper, augmentations, loaders)."""

from importlib.metadata import version as _distribution_version

from . import datasets, detection_utils, samplers, transforms
from .build import (
    build_batch_data_loader,
    build_detection_test_loader,
    build_detection_train_loader,
    get_detection_dataset_dicts,
    print_instances_class_histogram,
    trivial_batch_collator,
)
from .catalog import DatasetCatalog, Metadata, MetadataCatalog
from .common import DatasetFromList, MapDataset, ToIterableDataset
from .dataset_mapper import DatasetMapper
from .resumable_loader import ResumableBatchLoader

__version__ = _distribution_version("modet-data")  # the one source of the version is pyproject.toml

__all__ = [
    "DatasetCatalog",
    "DatasetFromList",
    "DatasetMapper",
    "MapDataset",
    "Metadata",
    "MetadataCatalog",
    "ResumableBatchLoader",
    "ToIterableDataset",
    "build_batch_data_loader",
    "build_detection_test_loader",
    "build_detection_train_loader",
    "datasets",
    "detection_utils",
    "get_detection_dataset_dicts",
    "print_instances_class_histogram",
    "samplers",
    "transforms",
    "trivial_batch_collator",
]
