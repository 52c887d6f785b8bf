"""``SemSegEvaluator``: mIoU, frequency-weighted IoU, mean and pixel accuracy from a confusion matrix."""

from __future__ import annotations

import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from modet.core import comm

from ._metadata import dataset_records, resolve_metadata
from .evaluator import DatasetEvaluator

__all__ = ["SemSegEvaluator", "load_image_into_numpy_array"]

logger = logging.getLogger(__name__)


def load_image_into_numpy_array(filename: str, copy: bool = False, dtype: Any = None) -> np.ndarray:
    """A label-map file as an ``(H, W)`` array."""
    try:
        with Image.open(filename) as image:
            return np.array(image, dtype=dtype) if copy else np.asarray(image, dtype=dtype)
    except FileNotFoundError:
        raise FileNotFoundError(f"semantic segmentation ground truth not found: {filename}") from None


class SemSegEvaluator(DatasetEvaluator):
    """Accumulates a ``(N+1) x (N+1)`` confusion matrix of predicted vs. ground-truth classes
    (the extra row/column holds ignored pixels) and reports, in percent: ``mIoU``, ``fwIoU``,
    ``IoU-<class>``, ``mACC``, ``pACC`` and ``ACC-<class>``.

    Ground truth is the label-map file named by each dataset record's ``sem_seg_file_name``
    (looked up by the input's ``file_name``), or the input's own ``sem_seg`` tensor when
    ``gt_files`` is an empty mapping. Without modet-data, pass ``num_classes``, ``ignore_label``
    and ``gt_files`` (``{file_name: sem_seg_file_name}``) explicitly.
    """

    def __init__(
        self,
        dataset_name: str | None,
        distributed: bool = True,
        output_dir: str | None = None,
        *,
        sem_seg_loading_fn: Callable[..., np.ndarray] = load_image_into_numpy_array,
        num_classes: int | None = None,
        ignore_label: int | None = None,
        class_names: Sequence[str] | None = None,
        gt_files: Mapping[str, str] | None = None,
        metadata: Any = None,
    ):
        self._dataset_name = dataset_name
        self._distributed = distributed
        self._output_dir = output_dir
        self._cpu_device = torch.device("cpu")
        self.sem_seg_loading_fn = sem_seg_loading_fn
        if gt_files is None:
            if dataset_name is None:
                raise ValueError("SemSegEvaluator needs a dataset_name or gt_files={file_name: sem_seg_file_name}")
            gt_files = {
                r["file_name"]: r["sem_seg_file_name"] for r in dataset_records(dataset_name, "SemSegEvaluator")
            }
        self.input_file_to_gt_file = dict(gt_files)
        if (class_names is None or ignore_label is None) and (dataset_name is not None or metadata is not None):
            meta = resolve_metadata(dataset_name, metadata, "SemSegEvaluator")
            class_names = class_names if class_names is not None else getattr(meta, "stuff_classes", None)
            ignore_label = ignore_label if ignore_label is not None else getattr(meta, "ignore_label", 255)
        if class_names is None:
            if num_classes is None:
                raise ValueError("SemSegEvaluator needs num_classes or class_names (metadata stuff_classes)")
            class_names = [str(i) for i in range(num_classes)]
        if ignore_label is None:
            ignore_label = 255
        if num_classes is not None and num_classes != len(class_names):
            raise ValueError(f"num_classes={num_classes} but {len(class_names)} class names were given")
        self._class_names = list(class_names)
        self._num_classes = len(self._class_names)
        self._ignore_label = ignore_label
        self._conf_matrix = np.zeros((self._num_classes + 1, self._num_classes + 1), dtype=np.int64)

    def reset(self) -> None:
        self._conf_matrix = np.zeros((self._num_classes + 1, self._num_classes + 1), dtype=np.int64)

    def _ground_truth(self, input: dict[str, Any]) -> np.ndarray:
        if self.input_file_to_gt_file:
            file_name = input.get("file_name")
            gt_file = None if file_name is None else self.input_file_to_gt_file.get(file_name)
            if gt_file is None:
                raise KeyError(f"SemSegEvaluator: no ground truth for input file {input.get('file_name')!r}")
            return self.sem_seg_loading_fn(gt_file, dtype=np.int64)
        if "sem_seg" not in input:
            raise KeyError("SemSegEvaluator: input has neither a known file_name nor a 'sem_seg' tensor")
        return input["sem_seg"].cpu().numpy().astype(np.int64)

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        n = self._num_classes
        for input, output in zip(inputs, outputs):
            scores = output["sem_seg"]
            if scores.ndim != 3 or scores.shape[0] != n:
                raise ValueError(
                    f"SemSegEvaluator: expected sem_seg scores of shape ({n}, H, W), got {tuple(scores.shape)}"
                )
            pred = scores.argmax(dim=0).to(self._cpu_device).numpy().astype(np.int64)
            gt = self._ground_truth(input).copy()
            if gt.shape != pred.shape:
                raise ValueError(f"SemSegEvaluator: prediction {pred.shape} and ground truth {gt.shape} differ in size")
            gt[gt == self._ignore_label] = n
            if gt.min() < 0 or gt.max() > n:
                raise ValueError(f"SemSegEvaluator: ground truth has label {gt.max()} outside [0, {n}) and not ignored")
            # conf_matrix[pred, gt]
            self._conf_matrix += np.bincount(
                (n + 1) * pred.reshape(-1) + gt.reshape(-1), minlength=(n + 1) ** 2
            ).reshape(n + 1, n + 1)

    def evaluate(self) -> dict[str, Any] | None:
        if self._distributed:
            comm.synchronize()
            matrices = comm.gather(self._conf_matrix)
            if not comm.is_main_process():
                return None
            self._conf_matrix = np.sum(matrices, axis=0)

        n = self._num_classes
        acc = np.full(n, np.nan, dtype=np.float64)
        iou = np.full(n, np.nan, dtype=np.float64)
        tp = self._conf_matrix.diagonal()[:-1].astype(np.float64)
        pos_gt = np.sum(self._conf_matrix[:-1, :-1], axis=0).astype(np.float64)
        class_weights = pos_gt / max(np.sum(pos_gt), 1)
        pos_pred = np.sum(self._conf_matrix[:-1, :-1], axis=1).astype(np.float64)
        acc_valid = pos_gt > 0
        acc[acc_valid] = tp[acc_valid] / pos_gt[acc_valid]
        union = pos_gt + pos_pred - tp
        iou_valid = np.logical_and(acc_valid, union > 0)
        iou[iou_valid] = tp[iou_valid] / union[iou_valid]
        macc = np.sum(acc[acc_valid]) / np.sum(acc_valid) if acc_valid.any() else float("nan")
        miou = np.sum(iou[iou_valid]) / np.sum(iou_valid) if iou_valid.any() else float("nan")
        fiou = np.sum(iou[iou_valid] * class_weights[iou_valid])
        pacc = np.sum(tp) / np.sum(pos_gt) if pos_gt.sum() else float("nan")

        res: dict[str, float] = {"mIoU": 100 * miou, "fwIoU": 100 * fiou}
        for i, name in enumerate(self._class_names):
            res[f"IoU-{name}"] = 100 * iou[i]
        res["mACC"] = 100 * macc
        res["pACC"] = 100 * pacc
        for i, name in enumerate(self._class_names):
            res[f"ACC-{name}"] = 100 * acc[i]
        res = {k: float(v) for k, v in res.items()}
        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            with open(os.path.join(self._output_dir, "sem_seg_evaluation.json"), "w", encoding="utf-8") as f:
                json.dump(res, f)
        results = OrderedDict({"sem_seg": res})
        logger.info("%s", results)
        return results
