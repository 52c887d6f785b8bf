"""``COCOPanopticEvaluator``: panoptic quality (PQ, SQ, RQ) as the COCO panoptic challenge scores it.

Each predicted segment matches the ground-truth segment of its category that it overlaps with IoU
above 0.5 (unique by construction); IoU excludes the prediction's pixels on unlabeled (void)
ground truth. Unmatched ground truth counts as a false negative (crowd regions never do);
unmatched predictions count as false positives unless more than half of them lies on void or on a
crowd region of their category. Per category, PQ = sum of matched IoUs / (TP + FP/2 + FN/2),
SQ = mean matched IoU, RQ = TP / (TP + FP/2 + FN/2); the results average over the categories that
occur (in ground truth or predictions), for all, things and stuff.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from collections import OrderedDict, defaultdict
from typing import Any

import numpy as np
import torch
from PIL import Image

from modet.core import comm

from ._metadata import resolve_metadata
from .evaluator import DatasetEvaluator

__all__ = ["COCOPanopticEvaluator", "id2rgb", "pq_compute", "rgb2id"]

logger = logging.getLogger(__name__)

VOID = 0  # the segment id of unlabeled pixels in COCO panoptic PNGs
_OFFSET = 2**32  # pairs (gt id, pred id) as one integer; ids are below 2**24


def rgb2id(color: np.ndarray) -> np.ndarray:
    """Segment ids of a COCO panoptic PNG (``R + 256 G + 256² B``)."""
    color = np.asarray(color, dtype=np.int64)
    return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]


def id2rgb(ids: np.ndarray) -> np.ndarray:
    """The RGB image of a segment id map, as COCO panoptic PNGs store it."""
    ids = np.asarray(ids, dtype=np.int64)
    return np.stack([ids % 256, ids // 256 % 256, ids // 65536 % 256], axis=-1).astype(np.uint8)


class _CategoryStats:
    __slots__ = ("fn", "fp", "iou", "tp")

    def __init__(self) -> None:
        self.iou, self.tp, self.fp, self.fn = 0.0, 0, 0, 0


def _match_image(
    gt_ids: np.ndarray,
    gt_segments: dict[int, dict[str, Any]],
    pred_ids: np.ndarray,
    pred_segments: dict[int, dict[str, Any]],
    stats: dict[int, _CategoryStats],
) -> None:
    """Add one image's TP/FP/FN and matched IoUs to ``stats`` (by category id)."""
    labels, counts = np.unique(pred_ids, return_counts=True)
    pred_area = {}
    for label, count in zip(labels.tolist(), counts.tolist()):
        if label == VOID:
            continue
        if label not in pred_segments:
            raise KeyError(f"segment {label} is in the predicted image but not in its segments_info")
        pred_area[label] = count
    missing = set(pred_segments) - set(pred_area)
    if missing:
        raise KeyError(f"segments {sorted(missing)} are in segments_info but not in the predicted image")

    pairs, overlaps = np.unique(gt_ids.astype(np.int64) * _OFFSET + pred_ids.astype(np.int64), return_counts=True)
    intersection = {(int(p // _OFFSET), int(p % _OFFSET)): int(n) for p, n in zip(pairs, overlaps)}

    gt_matched, pred_matched = set(), set()
    for (gt_label, pred_label), inter in intersection.items():
        gt, pred = gt_segments.get(gt_label), pred_segments.get(pred_label)
        if gt is None or pred is None or gt.get("iscrowd", 0) == 1 or gt["category_id"] != pred["category_id"]:
            continue
        union = pred_area[pred_label] + gt["area"] - inter - intersection.get((VOID, pred_label), 0)
        iou = inter / union
        if iou > 0.5:
            stats[gt["category_id"]].tp += 1
            stats[gt["category_id"]].iou += iou
            gt_matched.add(gt_label)
            pred_matched.add(pred_label)

    crowd_by_category = {}
    for gt_label, gt in gt_segments.items():
        if gt_label in gt_matched:
            continue
        if gt.get("iscrowd", 0) == 1:
            crowd_by_category[gt["category_id"]] = gt_label
            continue
        stats[gt["category_id"]].fn += 1

    for pred_label, pred in pred_segments.items():
        if pred_label in pred_matched:
            continue
        ignored = intersection.get((VOID, pred_label), 0)
        crowd = crowd_by_category.get(pred["category_id"])
        if crowd is not None:
            ignored += intersection.get((crowd, pred_label), 0)
        if ignored / pred_area[pred_label] > 0.5:
            continue
        stats[pred["category_id"]].fp += 1


def _average(stats: dict[int, _CategoryStats], categories: dict[int, dict[str, Any]], isthing: bool | None) -> dict:
    total = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
    per_class, n = {}, 0
    for category_id, info in categories.items():
        if isthing is not None and bool(info.get("isthing", 0)) != isthing:
            continue
        s = stats[category_id]
        if s.tp + s.fp + s.fn == 0:
            per_class[category_id] = {"pq": 0.0, "sq": 0.0, "rq": 0.0}
            continue
        n += 1
        denominator = s.tp + 0.5 * s.fp + 0.5 * s.fn
        values = {"pq": s.iou / denominator, "sq": s.iou / s.tp if s.tp else 0.0, "rq": s.tp / denominator}
        per_class[category_id] = values
        for key in total:
            total[key] += values[key]
    averages = {key: value / n if n else float("nan") for key, value in total.items()}
    return {**averages, "n": n, "per_class": per_class}


def pq_compute(
    images: list[tuple[np.ndarray, list[dict], np.ndarray, list[dict]]], categories: list[dict[str, Any]]
) -> dict[str, dict]:
    """PQ/SQ/RQ over ``images``: ``(gt id map, gt segments_info, pred id map, pred segments_info)``.

    Segment infos are COCO panoptic records (``id``, ``category_id``; ground truth also ``area``
    and ``iscrowd``). Returns ``{"All"|"Things"|"Stuff": {"pq", "sq", "rq", "n", "per_class"}}``.
    """
    by_id = {c["id"]: c for c in categories}
    stats: dict[int, _CategoryStats] = defaultdict(_CategoryStats)
    for gt_ids, gt_info, pred_ids, pred_info in images:
        if gt_ids.shape != pred_ids.shape:
            raise ValueError(f"prediction of size {pred_ids.shape} for a ground truth of size {gt_ids.shape}")
        for segment in pred_info:
            if segment["category_id"] not in by_id:
                raise KeyError(f"predicted category {segment['category_id']} is not a category of the dataset")
        _match_image(gt_ids, {s["id"]: s for s in gt_info}, pred_ids, {s["id"]: dict(s) for s in pred_info}, stats)
    return {
        name: _average(stats, by_id, isthing) for name, isthing in (("All", None), ("Things", True), ("Stuff", False))
    }


class COCOPanopticEvaluator(DatasetEvaluator):
    """PQ of ``panoptic_seg`` outputs against a COCO panoptic dataset (detectron2's evaluator).

    The dataset's metadata gives ``panoptic_json``, ``panoptic_root`` and the contiguous-id maps
    (``thing_dataset_id_to_contiguous_id``, ``stuff_dataset_id_to_contiguous_id``); pass
    ``metadata=`` to evaluate without modet-data. With ``output_dir``, the predictions are also
    written there (``predictions.json`` and ``panoptic_predictions/*.png``).
    """

    def __init__(self, dataset_name: str | None, output_dir: str | None = None, *, metadata: Any = None):
        self._metadata = resolve_metadata(dataset_name, metadata, "COCOPanopticEvaluator")
        self._thing_to_dataset_id = {
            v: k for k, v in getattr(self._metadata, "thing_dataset_id_to_contiguous_id", {}).items()
        }
        self._stuff_to_dataset_id = {
            v: k for k, v in getattr(self._metadata, "stuff_dataset_id_to_contiguous_id", {}).items()
        }
        self._output_dir = output_dir
        self._predictions: list[dict[str, Any]] = []

    def reset(self) -> None:
        self._predictions = []

    def _dataset_category(self, segment: dict[str, Any]) -> dict[str, Any]:
        segment = dict(segment)
        isthing = segment.pop("isthing", None)
        if isthing is not None:  # contiguous ids of a model: back to the dataset's ids
            table = self._thing_to_dataset_id if isthing else self._stuff_to_dataset_id
            segment["category_id"] = table[segment["category_id"]]
        return segment

    def _segments_from_labels(self, panoptic: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Segments of a ``category * label_divisor + instance`` map (-1: void), with ids shifted by 1."""
        label_divisor = self._metadata.label_divisor
        thing_ids = set(getattr(self._metadata, "thing_dataset_id_to_contiguous_id", {}).values())
        segments = []
        for label in np.unique(panoptic).tolist():
            if label == -1:
                continue
            category = label // label_divisor
            segments.append({"id": label + 1, "category_id": category, "isthing": category in thing_ids})
        return panoptic + 1, segments

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for inp, out in zip(inputs, outputs):
            panoptic, segments_info = out["panoptic_seg"]
            panoptic = panoptic.cpu().numpy() if isinstance(panoptic, torch.Tensor) else np.asarray(panoptic)
            if segments_info is None:
                panoptic, segments_info = self._segments_from_labels(panoptic)
            name = os.path.splitext(os.path.basename(inp["file_name"]))[0] + ".png"
            self._predictions.append(
                {
                    "image_id": inp["image_id"],
                    "file_name": name,
                    "shape": panoptic.shape,
                    "ids": zlib.compress(np.ascontiguousarray(panoptic, dtype=np.int32).tobytes()),
                    "segments_info": [self._dataset_category(s) for s in segments_info],
                }
            )

    def _write_predictions(self, gt_json: dict[str, Any], output_dir: str) -> None:
        png_dir = os.path.join(output_dir, "panoptic_predictions")
        os.makedirs(png_dir, exist_ok=True)
        annotations = []
        for p in self._predictions:
            ids = np.frombuffer(zlib.decompress(p["ids"]), dtype=np.int32).reshape(p["shape"])
            Image.fromarray(id2rgb(ids)).save(os.path.join(png_dir, p["file_name"]))
            annotations.append({k: p[k] for k in ("image_id", "file_name", "segments_info")})
        with open(os.path.join(output_dir, "predictions.json"), "w", encoding="utf-8") as f:
            json.dump({**gt_json, "annotations": annotations}, f)

    def evaluate(self) -> dict[str, Any] | None:
        comm.synchronize()
        gathered = comm.gather(self._predictions)
        if not comm.is_main_process():
            return None
        self._predictions = [p for part in gathered for p in part]
        with open(self._metadata.panoptic_json, encoding="utf-8") as f:
            gt_json = json.load(f)
        gt_by_image = {a["image_id"]: a for a in gt_json["annotations"]}
        images = []
        for p in self._predictions:
            gt = gt_by_image.get(p["image_id"])
            if gt is None:
                raise KeyError(f"image {p['image_id']} is not in {self._metadata.panoptic_json}")
            with Image.open(os.path.join(self._metadata.panoptic_root, gt["file_name"])) as png:
                gt_ids = rgb2id(np.asarray(png.convert("RGB")))
            pred_ids = np.frombuffer(zlib.decompress(p["ids"]), dtype=np.int32).reshape(p["shape"])
            images.append((gt_ids, gt["segments_info"], pred_ids, p["segments_info"]))
        if self._output_dir:
            self._write_predictions(gt_json, self._output_dir)
        pq = pq_compute(images, gt_json["categories"])
        results: dict[str, float] = {}
        for suffix, name in (("", "All"), ("_th", "Things"), ("_st", "Stuff")):
            for metric in ("pq", "sq", "rq"):
                results[metric.upper() + suffix] = 100 * pq[name][metric]
        logger.info(
            "Panoptic evaluation: %s",
            ", ".join(f"{k} {v:.3f}" for k, v in results.items()),
        )
        return OrderedDict({"panoptic_seg": results})
