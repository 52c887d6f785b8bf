"""detectron2's builtin COCO datasets, known to both catalogs under detectron2's names.

The catalogs register them on their first use (not when some module happens to be imported), with
files under ``$MODET_DATASETS`` (else ``$DETECTRON2_DATASETS``, else ``./datasets``), laid out as
detectron2 expects (``coco/train2017``, ``coco/annotations/instances_train2017.json``…). Nothing
is read until a dataset is asked for.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from .builtin_meta import builtin_metadata

__all__ = ["COCO_INSTANCE_SPLITS", "COCO_PANOPTIC_SPLITS", "datasets_root", "register_all_coco"]

#: metadata kind -> {dataset name: (image folder, annotation json)}, relative to the datasets root.
COCO_INSTANCE_SPLITS: dict[str, dict[str, tuple[str, str]]] = {
    "coco": {
        "coco_2014_train": ("coco/train2014", "coco/annotations/instances_train2014.json"),
        "coco_2014_val": ("coco/val2014", "coco/annotations/instances_val2014.json"),
        "coco_2014_minival": ("coco/val2014", "coco/annotations/instances_minival2014.json"),
        "coco_2014_valminusminival": ("coco/val2014", "coco/annotations/instances_valminusminival2014.json"),
        "coco_2017_train": ("coco/train2017", "coco/annotations/instances_train2017.json"),
        "coco_2017_val": ("coco/val2017", "coco/annotations/instances_val2017.json"),
        "coco_2017_test": ("coco/test2017", "coco/annotations/image_info_test2017.json"),
        "coco_2017_test-dev": ("coco/test2017", "coco/annotations/image_info_test-dev2017.json"),
        "coco_2017_val_100": ("coco/val2017", "coco/annotations/instances_val2017_100.json"),
    },
    "coco_person": {
        "keypoints_coco_2014_train": ("coco/train2014", "coco/annotations/person_keypoints_train2014.json"),
        "keypoints_coco_2014_val": ("coco/val2014", "coco/annotations/person_keypoints_val2014.json"),
        "keypoints_coco_2014_minival": ("coco/val2014", "coco/annotations/person_keypoints_minival2014.json"),
        "keypoints_coco_2014_valminusminival": (
            "coco/val2014",
            "coco/annotations/person_keypoints_valminusminival2014.json",
        ),
        "keypoints_coco_2017_train": ("coco/train2017", "coco/annotations/person_keypoints_train2017.json"),
        "keypoints_coco_2017_val": ("coco/val2017", "coco/annotations/person_keypoints_val2017.json"),
        "keypoints_coco_2017_val_100": ("coco/val2017", "coco/annotations/person_keypoints_val2017_100.json"),
    },
}

#: panoptic dataset name -> (panoptic PNG folder, panoptic json, stuff-only semantic PNG folder).
COCO_PANOPTIC_SPLITS: dict[str, tuple[str, str, str]] = {
    "coco_2017_train_panoptic": (
        "coco/panoptic_train2017",
        "coco/annotations/panoptic_train2017.json",
        "coco/panoptic_stuff_train2017",
    ),
    "coco_2017_val_panoptic": (
        "coco/panoptic_val2017",
        "coco/annotations/panoptic_val2017.json",
        "coco/panoptic_stuff_val2017",
    ),
    "coco_2017_val_100_panoptic": (
        "coco/panoptic_val2017_100",
        "coco/annotations/panoptic_val2017_100.json",
        "coco/panoptic_stuff_val2017_100",
    ),
}

# Panoptic labels: pixels of no segment, and segment id = category * divisor + instance.
_PANOPTIC_IGNORE_LABEL = 255
_PANOPTIC_LABEL_DIVISOR = 1000


def datasets_root() -> str:
    """Where builtin datasets are read from: ``$MODET_DATASETS``, ``$DETECTRON2_DATASETS`` or ``datasets``."""
    return os.environ.get("MODET_DATASETS") or os.environ.get("DETECTRON2_DATASETS") or "datasets"


def _merge_by_file_name(instances: list[dict[str, Any]], semantic: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each instance record with its image's ``sem_seg_file_name`` (the "separated" panoptic format)."""
    by_file = {record["file_name"]: record["sem_seg_file_name"] for record in semantic}
    missing = [r["file_name"] for r in instances if r["file_name"] not in by_file]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images have no semantic label map, e.g. {missing[0]}")
    return [{**record, "sem_seg_file_name": by_file[record["file_name"]]} for record in instances]


def register_all_coco(root: str) -> None:
    """Register detectron2's builtin COCO datasets (instances, keypoints, panoptic) under ``root``."""
    # deferred: the catalogs import this module on their first use, from inside their own methods
    from ..catalog import DatasetCatalog, MetadataCatalog
    from .coco import load_coco_json, load_sem_seg, register_coco_instances

    for kind, splits in COCO_INSTANCE_SPLITS.items():
        for name, (image_root, json_file) in splits.items():
            register_coco_instances(
                name, builtin_metadata(kind), os.path.join(root, json_file), os.path.join(root, image_root)
            )

    for name, (panoptic_root, panoptic_json, semantic_root) in COCO_PANOPTIC_SPLITS.items():
        instances = MetadataCatalog.get(name[: -len("_panoptic")])
        image_root, instances_json = instances.image_root, instances.json_file
        panoptic_root, panoptic_json = os.path.join(root, panoptic_root), os.path.join(root, panoptic_json)
        semantic_root = os.path.join(root, semantic_root)
        panoptic_files = {"panoptic_root": panoptic_root, "image_root": image_root, "panoptic_json": panoptic_json}

        # "separated" (Panoptic FPN): instances as in detection plus a stuff-only semantic map
        separated, stuff_only = f"{name}_separated", f"{name}_stuffonly"

        def load_separated(
            i: str = instances_json, r: str = image_root, n: str = separated, s: str = semantic_root
        ) -> list[dict[str, Any]]:
            return _merge_by_file_name(load_coco_json(i, r, n), load_sem_seg(s, r))

        DatasetCatalog.register(separated, load_separated)
        MetadataCatalog.get(separated).set(
            **panoptic_files,
            sem_seg_root=semantic_root,
            json_file=instances_json,
            evaluator_type="coco_panoptic_seg",
            ignore_label=_PANOPTIC_IGNORE_LABEL,
            **builtin_metadata("coco_panoptic_separated"),
        )
        DatasetCatalog.register(stuff_only, functools.partial(load_sem_seg, semantic_root, image_root))
        MetadataCatalog.get(stuff_only).set(
            sem_seg_root=semantic_root,
            image_root=image_root,
            evaluator_type="sem_seg",
            ignore_label=_PANOPTIC_IGNORE_LABEL,
            **builtin_metadata("coco_panoptic_separated"),
        )
        # "standard" (one id space for things and stuff): metadata only; modet has no panoptic json loader yet
        MetadataCatalog.get(name).set(
            **panoptic_files,
            json_file=instances_json,
            evaluator_type="coco_panoptic_seg",
            ignore_label=_PANOPTIC_IGNORE_LABEL,
            label_divisor=_PANOPTIC_LABEL_DIVISOR,
            **builtin_metadata("coco_panoptic_standard"),
        )
