"""COCO-format datasets: ``load_coco_json``, ``register_coco_instances``, ``load_sem_seg``."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

from modet.structures import BoxMode

from ..catalog import DatasetCatalog, MetadataCatalog

__all__ = ["convert_to_coco_dict", "convert_to_coco_json", "load_coco_json", "load_sem_seg", "register_coco_instances"]

logger = logging.getLogger(__name__)


class COCOFormatError(ValueError):
    """A COCO JSON file that cannot be used, with the file and the offending record named."""


def _read_coco_api(json_file: str) -> COCO:
    try:
        with open(json_file, encoding="utf-8") as f:
            dataset = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"COCO json file not found: {json_file}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise COCOFormatError(f"cannot parse COCO json file {json_file}: {exc}") from exc
    if not isinstance(dataset, dict) or "images" not in dataset:
        raise COCOFormatError(f"{json_file} is not a COCO json file: it has no 'images' list")
    for key in ("images", "annotations", "categories"):
        if key in dataset and not isinstance(dataset[key], list):
            raise COCOFormatError(f"{json_file}: '{key}' must be a list, got {type(dataset[key]).__name__}")
    coco_api = COCO()
    coco_api.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
        try:
            coco_api.createIndex()
        except (KeyError, TypeError) as exc:
            raise COCOFormatError(f"{json_file}: malformed COCO record, missing or bad field {exc}") from exc
    return coco_api


def _box_outside_image(bbox: list[float], width: int, height: int) -> bool:
    x, y, w, h = bbox
    return x >= width or y >= height or x + w <= 0 or y + h <= 0


def load_coco_json(
    json_file: str | os.PathLike[str],
    image_root: str | os.PathLike[str],
    dataset_name: str | None = None,
    extra_annotation_keys: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Read a COCO instances json into detectron2's list of records.

    Each record has ``file_name`` (joined with ``image_root``), ``height``, ``width``, ``image_id``
    and ``annotations``: dicts with ``bbox`` (XYWH_ABS, ``bbox_mode``), ``category_id``
    (contiguous ``[0, #categories)`` when ``dataset_name`` is given, whose metadata then gets
    ``thing_classes`` and ``thing_dataset_id_to_contiguous_id``), ``iscrowd``, ``segmentation``
    (polygons or RLE) and ``keypoints`` (with 0.5 added to x and y: COCO stores pixel indices).

    Like detectron2, instances whose polygons are all invalid (fewer than 3 points) are skipped
    with a warning; so are boxes that lie entirely outside their image. A missing or unknown
    category, a negative box size, or duplicate annotation ids raise ``COCOFormatError``
    naming the file and the annotation.
    """
    json_file, image_root = os.fspath(json_file), os.fspath(image_root)
    coco_api = _read_coco_api(json_file)

    cat_ids = sorted(coco_api.getCatIds())
    id_map: dict[int, int] | None = None
    if dataset_name is not None:
        meta = MetadataCatalog.get(dataset_name)
        cats = coco_api.loadCats(cat_ids)
        meta.thing_classes = [c["name"] for c in sorted(cats, key=lambda x: x["id"])]
        if cat_ids and not (min(cat_ids) == 1 and max(cat_ids) == len(cat_ids)) and "coco" not in dataset_name:
            logger.warning("Category ids in annotations are not in [1, #categories]! We'll apply a mapping for you.")
        id_map = {v: i for i, v in enumerate(cat_ids)}
        meta.thing_dataset_id_to_contiguous_id = id_map
    known_cat_ids = set(cat_ids)

    img_ids = sorted(coco_api.imgs.keys())
    orphans = sorted({ann["image_id"] for ann in coco_api.anns.values()} - set(img_ids), key=str)
    if orphans:
        raise COCOFormatError(f"{json_file}: annotations refer to image ids not in 'images': {orphans[:5]}")
    imgs = coco_api.loadImgs(img_ids)
    anns = [coco_api.imgToAnns[img_id] for img_id in img_ids]
    ann_ids = [ann["id"] for anns_per_image in anns for ann in anns_per_image]
    if len(set(ann_ids)) != len(ann_ids):
        duplicates = sorted({i for i in ann_ids if ann_ids.count(i) > 1})[:5]
        raise COCOFormatError(f"Annotation ids in '{json_file}' are not unique! Duplicated ids: {duplicates}")
    logger.info("Loaded %d images in COCO format from %s", len(imgs), json_file)

    ann_keys = ["iscrowd", "bbox", "keypoints", "category_id", *(extra_annotation_keys or [])]
    num_without_valid_segmentation = 0
    num_outside_image = 0
    dataset_dicts = []
    for img_dict, anno_dict_list in zip(imgs, anns):
        try:
            record = {
                "file_name": os.path.join(image_root, img_dict["file_name"]),
                "height": int(img_dict["height"]),
                "width": int(img_dict["width"]),
                "image_id": img_dict["id"],
            }
        except KeyError as exc:
            raise COCOFormatError(
                f"{json_file}: image record {img_dict.get('id', img_dict)} has no field {exc}"
            ) from None
        image_id = record["image_id"]
        objs = []
        for anno in anno_dict_list:
            where = f"{json_file}: annotation id={anno.get('id')} (image_id={image_id})"
            if anno.get("ignore", 0) != 0:
                raise COCOFormatError(f'{where}: "ignore" in COCO json file is not supported.')
            obj = {key: anno[key] for key in ann_keys if key in anno}
            bbox = obj.get("bbox")
            if bbox is None or len(bbox) != 4:
                raise COCOFormatError(f"{where} has bbox {bbox!r}; expected [x, y, width, height]")
            if not np.all(np.isfinite(bbox)) or bbox[2] < 0 or bbox[3] < 0:
                raise COCOFormatError(f"{where} has an invalid bbox {bbox} (width and height must be finite and >= 0)")
            if _box_outside_image(bbox, record["width"], record["height"]):
                num_outside_image += 1
                logger.warning(
                    "%s: bbox %s lies outside its %dx%d image; skipping it",
                    where,
                    bbox,
                    record["width"],
                    record["height"],
                )
                continue
            if "category_id" not in obj:
                raise COCOFormatError(f"{where} has no category_id")
            if obj["category_id"] not in known_cat_ids:
                raise COCOFormatError(
                    f"{where}: Encountered category_id={obj['category_id']} but this id does not exist in "
                    f"'categories' of the json file (known ids: {cat_ids})."
                )

            segm = anno.get("segmentation")
            if segm:
                if isinstance(segm, dict):
                    if isinstance(segm.get("counts"), list):  # uncompressed RLE
                        segm = mask_util.frPyObjects(segm, *segm["size"])
                    elif "counts" not in segm or "size" not in segm:
                        raise COCOFormatError(f"{where}: RLE segmentation needs 'counts' and 'size'")
                else:
                    # detectron2: drop polygons with fewer than 3 points or an odd coordinate count
                    segm = [poly for poly in segm if len(poly) % 2 == 0 and len(poly) >= 6]
                    if not segm:
                        num_without_valid_segmentation += 1
                        continue
                obj["segmentation"] = segm

            keypoints = anno.get("keypoints")
            if keypoints:
                if len(keypoints) % 3 != 0:
                    raise COCOFormatError(f"{where}: keypoints must be [x1, y1, v1, ...], got {len(keypoints)} values")
                # COCO keypoints are pixel indices; +0.5 turns them into continuous coordinates.
                obj["keypoints"] = [v + 0.5 if i % 3 != 2 else v for i, v in enumerate(keypoints)]
            obj["bbox_mode"] = BoxMode.XYWH_ABS
            if id_map is not None:
                obj["category_id"] = id_map[obj["category_id"]]
            objs.append(obj)
        record["annotations"] = objs
        dataset_dicts.append(record)

    if num_without_valid_segmentation > 0:
        logger.warning(
            "Filtered out %d instances without valid segmentation in %s. There might be issues in your dataset "
            "generation process. A valid polygon should be a list[float] with even length >= 6.",
            num_without_valid_segmentation,
            json_file,
        )
    if num_outside_image > 0:
        logger.warning(
            "Filtered out %d instances whose box lies outside the image in %s.", num_outside_image, json_file
        )
    return dataset_dicts


def register_coco_instances(
    name: str, metadata: dict[str, Any], json_file: str | os.PathLike[str], image_root: str | os.PathLike[str]
) -> None:
    """Register a COCO instances json as dataset ``name`` (read lazily) with ``evaluator_type="coco"``."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    json_file, image_root = os.fspath(json_file), os.fspath(image_root)
    DatasetCatalog.register(name, lambda: load_coco_json(json_file, image_root, name))
    MetadataCatalog.get(name).set(json_file=json_file, image_root=image_root, evaluator_type="coco", **metadata)


def load_sem_seg(
    gt_root: str | os.PathLike[str], image_root: str | os.PathLike[str], gt_ext: str = "png", image_ext: str = "jpg"
) -> list[dict[str, Any]]:
    """Pair each image with its ground-truth label map by file name (without extension).

    Records have ``file_name`` and ``sem_seg_file_name``; images without a label map are left out
    with a warning.
    """
    gt_root, image_root = os.fspath(gt_root), os.fspath(image_root)

    def stem(root: str, path: str, ext: str) -> str:
        return os.path.normpath(os.path.relpath(path, start=root))[: -len(ext) - 1]

    input_files = sorted(
        os.path.join(dirpath, f)
        for dirpath, _, files in os.walk(image_root)
        for f in files
        if f.endswith("." + image_ext)
    )
    gt_files = sorted(
        os.path.join(dirpath, f) for dirpath, _, files in os.walk(gt_root) for f in files if f.endswith("." + gt_ext)
    )
    if not gt_files:
        raise FileNotFoundError(f"No annotations found in {gt_root}.")
    gt_by_stem = {stem(gt_root, f, gt_ext): f for f in gt_files}
    dataset_dicts = []
    missing = 0
    for f in input_files:
        gt = gt_by_stem.get(stem(image_root, f, image_ext))
        if gt is None:
            missing += 1
            continue
        dataset_dicts.append({"file_name": f, "sem_seg_file_name": gt})
    if missing:
        logger.warning("Directory %s and %s have %d images without a label map.", image_root, gt_root, missing)
    logger.info("Loaded %d images with semantic segmentation from %s", len(dataset_dicts), image_root)
    return dataset_dicts


def convert_to_coco_dict(dataset_name: str) -> dict[str, Any]:
    """The registered dataset ``dataset_name`` as a COCO instances dict (what ``COCOEvaluator``
    needs as ground truth when a dataset was not loaded from a COCO json).

    Category ids go back through ``thing_dataset_id_to_contiguous_id`` when the metadata has it;
    keypoints go back to COCO's pixel-index convention (-0.5).
    """
    dataset_dicts = DatasetCatalog.get(dataset_name)
    metadata = MetadataCatalog.get(dataset_name)
    id_map = metadata.get("thing_dataset_id_to_contiguous_id")
    reverse_id = {v: k for k, v in id_map.items()} if id_map else {i: i for i in range(len(metadata.thing_classes))}
    categories = [{"id": reverse_id[i], "name": name} for i, name in enumerate(metadata.thing_classes)]

    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index, record in enumerate(dataset_dicts):
        image_id = record.get("image_id", index)
        images.append(
            {
                "id": image_id,
                "width": int(record["width"]),
                "height": int(record["height"]),
                "file_name": record["file_name"],
            }
        )
        for ann in record.get("annotations", []):
            bbox = np.asarray(ann["bbox"], dtype=float)
            if bbox.shape not in ((4,), (5,)):
                raise ValueError(
                    f"Dataset {dataset_name!r}, image {image_id}: a bbox has 4 values (axis-aligned) or 5 "
                    f"(rotated), got {ann['bbox']!r}"
                )
            rotated = len(bbox) == 5  # COCO wants XYWH, and XYWHA for rotated boxes
            to_mode = BoxMode.XYWHA_ABS if rotated else BoxMode.XYWH_ABS
            bbox = np.asarray(BoxMode.convert(bbox.tolist(), ann["bbox_mode"], to_mode), dtype=float)
            coco_ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "bbox": [round(float(v), 3) for v in bbox],
                "iscrowd": int(ann.get("iscrowd", 0)),
                "category_id": int(reverse_id[ann["category_id"]]),
            }
            segm = ann.get("segmentation")
            if isinstance(segm, list):
                rles = mask_util.frPyObjects([list(map(float, p)) for p in segm], record["height"], record["width"])
                area = float(mask_util.area(mask_util.merge(rles)))
                coco_ann["segmentation"] = [list(map(float, p)) for p in segm]
            elif isinstance(segm, dict):
                area = float(mask_util.area(segm))
                counts = segm["counts"]
                coco_ann["segmentation"] = {
                    "size": list(segm["size"]),
                    "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
                }
            else:  # the box's area, width x height, rotated or not (unclamped, as detectron2 computes it)
                area = float(bbox[2] * bbox[3])
            coco_ann["area"] = area
            if "keypoints" in ann:
                keypoints = np.asarray(ann["keypoints"], dtype=float).reshape(-1, 3)
                keypoints[:, :2] -= 0.5
                coco_ann["keypoints"] = [float(v) for v in keypoints.reshape(-1)]
                coco_ann["num_keypoints"] = int(ann.get("num_keypoints", (keypoints[:, 2] > 0).sum()))
            annotations.append(coco_ann)
    return {
        "info": {"description": f"modet: {dataset_name} converted to COCO format"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def convert_to_coco_json(dataset_name: str, output_file: str | os.PathLike[str], allow_cached: bool = True) -> str:
    """Write ``convert_to_coco_dict(dataset_name)`` to ``output_file`` (kept if it exists and
    ``allow_cached``); returns the path."""
    output_file = os.fspath(output_file)
    if allow_cached and os.path.exists(output_file):
        logger.info("Using the cached COCO-format annotations of %s in %s", dataset_name, output_file)
        return output_file
    os.makedirs(os.path.dirname(output_file) or ".", exist_ok=True)
    write_json_whole(convert_to_coco_dict(dataset_name), output_file)
    return output_file


def unique_temporary(path: str) -> str:
    """A temporary name beside ``path`` that no other process writing ``path`` uses."""
    return f"{path}.{os.getpid()}.tmp"


def write_json_whole(value: Any, path: str) -> None:
    """Write ``value`` as JSON under a temporary name, then rename it to ``path``: several processes
    (one per DDP rank) may write the same file at once, and none may read half of it."""
    tmp = unique_temporary(path)
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(tmp, path)
