"""``COCOEvaluator``: COCO AP for boxes, masks and keypoints through pycocotools' ``COCOeval``."""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_util
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from modet.core import comm
from modet.structures import BoxMode, Instances

from ._metadata import _require_modet_data, resolve_metadata
from .evaluator import DatasetEvaluator

__all__ = ["COCOEvaluator", "instances_to_coco_json"]

logger = logging.getLogger(__name__)

_METRICS = {
    "bbox": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "segm": ["AP", "AP50", "AP75", "APs", "APm", "APl"],
    "keypoints": ["AP", "AP50", "AP75", "APm", "APl"],
}


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain-text pipe table (what detectron2 prints with tabulate)."""
    cells = [[str(h) for h in headers]] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.center(w) for c, w in zip(row, widths)) + " |" for row in cells]
    lines.insert(1, "|" + "|".join(":" + "-" * w + ":" for w in widths) + "|")
    return "\n".join(lines)


def instances_to_coco_json(instances: Instances, img_id: int) -> list[dict[str, Any]]:
    """One COCO result dict per predicted instance: XYWH bbox, score, category, RLE mask, keypoints."""
    num_instance = len(instances)
    if num_instance == 0:
        return []
    boxes = instances.pred_boxes.tensor.detach().cpu().numpy()
    boxes = BoxMode.convert(boxes, BoxMode.XYXY_ABS, BoxMode.XYWH_ABS).tolist()
    scores = instances.scores.tolist()
    classes = instances.pred_classes.tolist()

    rles = None
    if instances.has("pred_masks"):
        masks = instances.pred_masks
        masks = masks.detach().cpu().numpy() if isinstance(masks, torch.Tensor) else np.asarray(masks)
        # one call encodes all masks: pycocotools takes an (H, W, N) Fortran-ordered uint8 array
        rles = mask_util.encode(np.asfortranarray(masks.transpose(1, 2, 0).astype(np.uint8)))
        for rle in rles:
            rle["counts"] = rle["counts"].decode("utf-8")  # json needs str, not bytes

    keypoints = None
    if instances.has("pred_keypoints"):
        keypoints = instances.pred_keypoints.detach().cpu().clone()
        keypoints[:, :, :2] -= 0.5  # back to COCO's pixel-index convention

    results = []
    for k in range(num_instance):
        result = {"image_id": img_id, "category_id": classes[k], "bbox": boxes[k], "score": scores[k]}
        if rles is not None:
            result["segmentation"] = rles[k]
        if keypoints is not None:
            result["keypoints"] = keypoints[k].flatten().tolist()
        results.append(result)
    return results


class COCOEvaluator(DatasetEvaluator):
    """COCO AP/AP50/AP75/APs/APm/APl for ``bbox``, ``segm`` and ``keypoints``, plus per-category AP.

    The dataset's metadata must have ``json_file`` (the COCO ground truth) and, for datasets loaded
    by ``load_coco_json``, ``thing_dataset_id_to_contiguous_id``. It is looked up in modet-data's
    ``MetadataCatalog`` by ``dataset_name``, or given directly as ``metadata=`` (a mapping or an
    object with those attributes), so this class works without modet-data installed.
    """

    def __init__(
        self,
        dataset_name: str | None,
        tasks: Sequence[str] | None = None,
        distributed: bool = True,
        output_dir: str | None = None,
        *,
        max_dets_per_image: int | None = None,
        use_fast_impl: bool = True,
        kpt_oks_sigmas: Sequence[float] = (),
        allow_cached_coco: bool = True,
        metadata: Any = None,
    ):
        del use_fast_impl  # detectron2's switch to its C++ COCOeval; pycocotools is used here
        self._logger = logger
        self._distributed = distributed
        self._output_dir = output_dir
        self._tasks = tuple(tasks) if tasks is not None else None
        for task in self._tasks or ():
            if task not in _METRICS:
                raise ValueError(f"COCOEvaluator: unknown task {task!r}; expected some of {sorted(_METRICS)}")
        self._max_dets_per_image = [1, 10, 100 if max_dets_per_image is None else max_dets_per_image]
        self._cpu_device = torch.device("cpu")
        self._metadata = resolve_metadata(dataset_name, metadata, "COCOEvaluator")
        self._dataset_name = dataset_name or getattr(self._metadata, "name", "dataset")
        json_file = getattr(self._metadata, "json_file", None)
        if not json_file:
            if dataset_name is None or metadata is not None:
                raise ValueError(
                    f"COCOEvaluator: the metadata of '{self._dataset_name}' has no json_file; register the dataset "
                    "with register_coco_instances or pass metadata={'json_file': ...}"
                )
            json_file = self._convert_dataset_to_coco(dataset_name, output_dir, allow_cached_coco)
        if not os.path.exists(json_file):
            raise FileNotFoundError(f"COCOEvaluator: ground-truth json not found: {json_file}")
        with contextlib.redirect_stdout(io.StringIO()):
            self._coco_api = COCO(json_file)
        self._do_evaluation = "annotations" in self._coco_api.dataset
        self._kpt_oks_sigmas = np.asarray(kpt_oks_sigmas, dtype=np.float64) if len(kpt_oks_sigmas) else None
        self._predictions: list[dict[str, Any]] = []

    def _convert_dataset_to_coco(self, dataset_name: str, output_dir: str | None, allow_cached: bool) -> str:
        """Write the registered dataset's ground truth as COCO json (detectron2 does the same)."""
        convert_to_coco_json = _require_modet_data("COCOEvaluator").datasets.convert_to_coco_json
        folder = output_dir or tempfile.mkdtemp(prefix="modet_coco_gt_")
        cache_path = os.path.join(folder, f"{dataset_name}_coco_format.json")
        self._logger.info("'%s' has no COCO json: converting it to %s", dataset_name, cache_path)
        convert_to_coco_json(dataset_name, cache_path, allow_cached=allow_cached)
        self._metadata.json_file = cache_path
        return cache_path

    def reset(self) -> None:
        self._predictions = []

    def process(self, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> None:
        for input, output in zip(inputs, outputs):
            if "image_id" not in input:
                raise KeyError("COCOEvaluator.process: every input needs an 'image_id' (the COCO image id)")
            prediction: dict[str, Any] = {"image_id": input["image_id"]}
            if "instances" in output:
                instances = output["instances"].to(self._cpu_device)
                prediction["instances"] = instances_to_coco_json(instances, input["image_id"])
            if len(prediction) > 1:
                self._predictions.append(prediction)

    def evaluate(self, img_ids: Sequence[int] | None = None) -> dict[str, Any]:
        if self._distributed:
            comm.synchronize()
            gathered = comm.gather(self._predictions, dst=0)
            predictions = list(itertools.chain(*gathered))
            if not comm.is_main_process():
                return {}
        else:
            predictions = self._predictions
        if not predictions:
            self._logger.warning("[COCOEvaluator] Did not receive valid predictions.")
            return {}
        if self._output_dir:
            os.makedirs(self._output_dir, exist_ok=True)
            torch.save(predictions, os.path.join(self._output_dir, "instances_predictions.pth"))
        self._results: dict[str, Any] = OrderedDict()
        if "instances" in predictions[0]:
            self._eval_predictions(predictions, img_ids=img_ids)
        return copy.deepcopy(self._results)

    def _tasks_from_predictions(self, predictions: list[dict[str, Any]]) -> tuple[str, ...]:
        tasks = {"bbox"}
        for pred in predictions:
            if "segmentation" in pred:
                tasks.add("segm")
            if "keypoints" in pred:
                tasks.add("keypoints")
        return tuple(sorted(tasks))

    def _eval_predictions(self, predictions: list[dict[str, Any]], img_ids: Sequence[int] | None = None) -> None:
        coco_results = list(itertools.chain(*[x["instances"] for x in predictions]))
        tasks = self._tasks or self._tasks_from_predictions(coco_results)

        id_map = getattr(self._metadata, "thing_dataset_id_to_contiguous_id", None)
        if id_map:
            reverse_id_mapping = {v: k for k, v in id_map.items()}
            num_classes = len(reverse_id_mapping)
            for result in coco_results:
                category_id = result["category_id"]
                if category_id not in reverse_id_mapping:
                    raise ValueError(
                        f"A prediction has class={category_id}, but the dataset only has {num_classes} classes and "
                        f"predicted class id should be in [0, {num_classes - 1}]."
                    )
                result["category_id"] = reverse_id_mapping[category_id]

        if self._output_dir:
            file_path = os.path.join(self._output_dir, "coco_instances_results.json")
            self._logger.info("Saving results to %s", file_path)
            with open(file_path, "w", encoding="utf-8") as f:
                json.dump(coco_results, f)

        if not self._do_evaluation:
            self._logger.info("Annotations are not available for evaluation.")
            return
        self._logger.info("Evaluating predictions with the official COCO API (pycocotools)...")
        for task in sorted(tasks):
            coco_eval = (
                _evaluate_predictions_on_coco(
                    self._coco_api,
                    coco_results,
                    task,
                    kpt_oks_sigmas=self._kpt_oks_sigmas,
                    img_ids=img_ids,
                    max_dets_per_image=self._max_dets_per_image,
                )
                if coco_results
                else None
            )
            self._results[task] = self._derive_coco_results(
                coco_eval, task, class_names=getattr(self._metadata, "thing_classes", None)
            )

    def _derive_coco_results(
        self, coco_eval: COCOeval | None, iou_type: str, class_names: Sequence[str] | None = None
    ) -> dict[str, float]:
        """``{"AP": ..., "AP50": ..., "AP-<class>": ...}`` in percent; NaN where COCO has no value."""
        metrics = _METRICS[iou_type]
        if coco_eval is None:
            self._logger.warning("No predictions from the model!")
            return {metric: float("nan") for metric in metrics}
        results = {
            metric: float(coco_eval.stats[idx] * 100 if coco_eval.stats[idx] >= 0 else "nan")
            for idx, metric in enumerate(metrics)
        }
        self._logger.info(
            "Evaluation results for %s: \n%s", iou_type, format_table([[results[m] for m in metrics]], metrics)
        )
        if not np.isfinite(sum(results.values())):
            self._logger.info("Some metrics cannot be computed and is shown as NaN.")
        if class_names is None or len(class_names) <= 1:
            return results

        # precision: (iou thresholds, recall thresholds, classes, area ranges, max dets)
        precisions = coco_eval.eval["precision"]
        if precisions.shape[2] != len(class_names):
            raise ValueError(
                f"COCOeval has {precisions.shape[2]} categories but the metadata names {len(class_names)} thing_classes"
            )
        results_per_category = []
        for idx, name in enumerate(class_names):
            precision = precisions[:, :, idx, 0, -1]
            precision = precision[precision > -1]
            ap = float(np.mean(precision)) if precision.size else float("nan")
            results_per_category.append((f"{name}", ap * 100))
        self.per_category_table = format_per_category_table(results_per_category, iou_type)
        self._logger.info("Per-category %s AP: \n%s", iou_type, self.per_category_table)
        results.update({"AP-" + name: ap for name, ap in results_per_category})
        return results


def format_per_category_table(results_per_category: list[tuple[str, float]], iou_type: str = "bbox") -> str:
    """Category/AP pairs laid out in up to three column pairs."""
    n_cols = min(6, len(results_per_category) * 2)
    flat = list(itertools.chain(*results_per_category))
    rows = list(itertools.zip_longest(*[flat[i::n_cols] for i in range(n_cols)], fillvalue=""))
    return format_table(rows, ["category", "AP"] * (n_cols // 2))


def _evaluate_predictions_on_coco(
    coco_gt: COCO,
    coco_results: list[dict[str, Any]],
    iou_type: str,
    kpt_oks_sigmas: np.ndarray | None = None,
    img_ids: Sequence[int] | None = None,
    max_dets_per_image: list[int] | None = None,
) -> COCOeval:
    """Run COCOeval (evaluate, accumulate, summarize) on one task and return it."""
    if not coco_results:
        raise ValueError("no predictions to evaluate")
    if iou_type == "segm":
        coco_results = copy.deepcopy(coco_results)
        # Without a bbox, pycocotools computes each result's area from its mask, as it should for segm.
        for c in coco_results:
            c.pop("bbox", None)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(coco_results)
    coco_eval = COCOeval(coco_gt, coco_dt, iou_type)
    if iou_type != "keypoints":  # keypoint AP keeps COCOeval's own maxDets=[20]
        coco_eval.params.maxDets = list(max_dets_per_image or [1, 10, 100])
    if img_ids is not None:
        coco_eval.params.imgIds = list(img_ids)
    if iou_type == "keypoints":
        if kpt_oks_sigmas is not None:
            coco_eval.params.kpt_oks_sigmas = np.asarray(kpt_oks_sigmas)
        num_keypoints_dt = len(coco_results[0]["keypoints"]) // 3
        num_keypoints_gt = len(next(iter(coco_gt.anns.values()))["keypoints"]) // 3
        num_keypoints_oks = len(coco_eval.params.kpt_oks_sigmas)
        if not num_keypoints_oks == num_keypoints_dt == num_keypoints_gt:
            raise ValueError(
                f"[COCOEvaluator] Prediction contain {num_keypoints_dt} keypoints. Ground truth contains "
                f"{num_keypoints_gt} keypoints. The length of cfg.TEST.KEYPOINT_OKS_SIGMAS is {num_keypoints_oks}. "
                "They have to agree with each other. For meaning of OKS, please refer to "
                "http://cocodataset.org/#keypoints-eval."
            )
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.evaluate()
        coco_eval.accumulate()
        if iou_type != "keypoints" and coco_eval.params.maxDets[-1] != 100:
            _summarize_with_max_dets(coco_eval)
        else:
            coco_eval.summarize()
    logger.info("COCOeval %s summary:\n%s", iou_type, summary.getvalue().rstrip())
    return coco_eval


def _summarize_with_max_dets(coco_eval: COCOeval) -> None:
    """COCOeval.summarize hard-codes maxDets=100 for AP; use the last configured value instead."""
    max_det = coco_eval.params.maxDets[-1]

    def summarize(ap: int, iou: float | None = None, area: str = "all") -> float:
        p = coco_eval.params
        aind = [i for i, a in enumerate(p.areaRngLbl) if a == area]
        mind = [i for i, m in enumerate(p.maxDets) if m == max_det]
        s = coco_eval.eval["precision" if ap == 1 else "recall"]
        if iou is not None:
            s = s[np.where(iou == p.iouThrs)[0]]
        s = s[..., aind, mind] if ap == 1 else s[:, :, aind, mind]
        s = s[s > -1]
        return float(np.mean(s)) if s.size else -1.0

    stats = np.zeros(12)
    stats[0] = summarize(1)
    stats[1] = summarize(1, iou=0.5)
    stats[2] = summarize(1, iou=0.75)
    stats[3] = summarize(1, area="small")
    stats[4] = summarize(1, area="medium")
    stats[5] = summarize(1, area="large")
    coco_eval.stats = stats
