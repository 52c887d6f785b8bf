"""Panoptic FPN (:paper:`PanopticFPN`): Mask R-CNN plus a semantic head, merged into panoptic output."""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import Tensor

from modet.core.config import CfgNode, configurable
from modet.ops import is_exporting
from modet.structures import Instances

from ..postprocessing import detector_postprocess, sem_seg_postprocess
from .base import requested_size
from .rcnn import GeneralizedRCNN
from .semantic_seg import build_sem_seg_head, gather_sem_seg_targets

__all__ = ["PanopticFPN", "combine_semantic_and_instance_outputs"]

logger = logging.getLogger(__name__)


class PanopticFPN(GeneralizedRCNN):
    """A GeneralizedRCNN with a semantic segmentation head on the same backbone.

    Inference returns ``instances``, ``sem_seg`` and ``panoptic_seg`` for every image.
    """

    proposal_generator: torch.nn.Module  # required here (checked in __init__)

    @configurable
    def __init__(
        self,
        *,
        sem_seg_head: torch.nn.Module,
        combine_overlap_thresh: float = 0.5,
        combine_stuff_area_thresh: float = 4096,
        combine_instances_score_thresh: float = 0.5,
        **kwargs: Any,
    ) -> None:
        """
        Args:
            sem_seg_head: semantic segmentation head on the backbone features.
            combine_overlap_thresh: drop an instance whose mask overlaps already placed
                segments by more than this fraction of its area.
            combine_stuff_area_thresh: drop stuff segments smaller than this many pixels.
            combine_instances_score_thresh: ignore instances scored below this.
            kwargs: arguments of :class:`GeneralizedRCNN`.
        """
        super().__init__(**kwargs)
        if self.proposal_generator is None:
            raise ValueError("PanopticFPN needs a proposal generator; proposal_generator is None")
        self.sem_seg_head = sem_seg_head
        self.combine_overlap_thresh = combine_overlap_thresh
        self.combine_stuff_area_thresh = combine_stuff_area_thresh
        self.combine_instances_score_thresh = combine_instances_score_thresh

    @classmethod
    def from_config(cls, cfg: CfgNode) -> dict[str, Any]:
        ret = super().from_config(cfg)
        combine = cfg.MODEL.PANOPTIC_FPN.COMBINE
        ret.update(
            {
                "combine_overlap_thresh": combine.OVERLAP_THRESH,
                "combine_stuff_area_thresh": combine.STUFF_AREA_LIMIT,
                "combine_instances_score_thresh": combine.INSTANCES_CONFIDENCE_THRESH,
            }
        )
        ret["sem_seg_head"] = build_sem_seg_head(cfg, ret["backbone"].output_shape())
        if not combine.ENABLED:
            logger.warning(
                "PANOPTIC_FPN.COMBINE.ENABLED is no longer used. "
                "model.inference(do_postprocess=) should be used to toggle postprocessing."
            )
        weight = cfg.MODEL.PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT
        if weight != 1.0:
            logger.warning("PANOPTIC_FPN.INSTANCE_LOSS_WEIGHT should be replaced by weights on each ROI head.")

            def scaled(loss_weight: Any) -> Any:
                if isinstance(loss_weight, dict):
                    return {k: v * weight for k, v in loss_weight.items()}
                return loss_weight * weight

            roi_heads = ret["roi_heads"]
            roi_heads.box_predictor.loss_weight = scaled(roi_heads.box_predictor.loss_weight)
            roi_heads.mask_head.loss_weight = scaled(roi_heads.mask_head.loss_weight)
        return ret

    def forward(self, batched_inputs: list[dict[str, Any]]) -> Any:
        """Training: semantic, RPN and ROI losses. Inference: see :meth:`inference`.

        Training inputs need ``image``, ``instances`` and ``sem_seg`` (integer (H, W), values
        in [0, NUM_CLASSES) or the ignore value; label 0 is the merged "things" class).
        """
        if not self.training:
            return self.inference(batched_inputs)
        self._check_inputs(batched_inputs)
        gt_sem_seg = gather_sem_seg_targets(batched_inputs, self, owner="PanopticFPN", required=True)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        _, sem_seg_losses = self.sem_seg_head(features, gt_sem_seg)

        gt_instances = [x["instances"].to(self.device) for x in batched_inputs]
        proposals, proposal_losses = self.proposal_generator(images, features, gt_instances)
        _, detector_losses = self.roi_heads(images, features, proposals, gt_instances)

        losses = dict(sem_seg_losses)
        losses.update(proposal_losses)
        losses.update(detector_losses)
        return losses

    # detectron2's signature: no detected_instances, unlike GeneralizedRCNN.inference.
    def inference(self, batched_inputs: list[dict[str, Any]], do_postprocess: bool = True) -> Any:  # type: ignore[override]
        """With ``do_postprocess``: per image ``{"sem_seg", "instances", "panoptic_seg"}`` at the
        requested ``height``/``width``; without: ``(detector_results, sem_seg_results)`` raw.
        """
        self._check_inputs(batched_inputs)
        images = self.preprocess_image(batched_inputs)
        features = self.backbone(images.tensor)
        sem_seg_results, _ = self.sem_seg_head(features, None)
        proposals, _ = self.proposal_generator(images, features, None)
        detector_results, _ = self.roi_heads(images, features, proposals, None)

        if not do_postprocess:
            return detector_results, sem_seg_results

        processed_results = []
        for sem_seg_result, detector_result, input_per_image, image_size in zip(
            sem_seg_results, detector_results, batched_inputs, images.image_sizes
        ):
            height, width = requested_size(input_per_image, image_size)
            sem_seg_r = sem_seg_postprocess(sem_seg_result, image_size, height, width)
            detector_r = detector_postprocess(detector_result, height, width)
            if is_exporting():
                # The greedy, sequential placement of instances runs after the graph, on its outputs
                # (modet.export does it when it rebuilds the output dict), as in detectron2's export.
                processed_results.append({"sem_seg": sem_seg_r, "instances": detector_r})
                continue
            panoptic_r = combine_semantic_and_instance_outputs(
                detector_r,
                sem_seg_r.argmax(dim=0),
                self.combine_overlap_thresh,
                self.combine_stuff_area_thresh,
                self.combine_instances_score_thresh,
            )
            processed_results.append({"sem_seg": sem_seg_r, "instances": detector_r, "panoptic_seg": panoptic_r})
        return processed_results


def combine_semantic_and_instance_outputs(
    instance_results: Instances,
    semantic_results: Tensor,
    overlap_threshold: float,
    stuff_area_thresh: float,
    instances_score_thresh: float,
) -> tuple[Tensor, list[dict[str, Any]]]:
    """Merge instance and semantic predictions into one panoptic segmentation (detectron2's heuristic).

    Instances go first, by decreasing score, down to ``instances_score_thresh``; one whose
    mask is more than ``overlap_threshold`` covered by earlier segments is dropped, otherwise
    it takes its still-free pixels. Then every semantic label but 0 (the merged "things"
    class) takes its free pixels, in increasing label order, if they number at least
    ``stuff_area_thresh``.

    Args:
        instance_results: with ``scores``, ``pred_classes`` and ``pred_masks`` (N, H, W).
        semantic_results: (H, W) semantic labels.

    Returns:
        ``(panoptic_seg, segments_info)``: an int32 (H, W) map of segment ids (0 = void), and
        per segment ``{"id", "isthing", "score", "category_id", "instance_id"}`` for things,
        ``{"id", "isthing", "category_id", "area"}`` for stuff.
    """
    if semantic_results.dim() != 2:
        raise ValueError(f"semantic_results must be an (H, W) label map, got shape {tuple(semantic_results.shape)}")
    panoptic_seg = torch.zeros_like(semantic_results, dtype=torch.int32)
    segments_info: list[dict[str, Any]] = []
    current_segment_id = 0

    if len(instance_results) > 0:
        instance_masks = instance_results.pred_masks.to(dtype=torch.bool, device=panoptic_seg.device)
        if tuple(instance_masks.shape[-2:]) != tuple(semantic_results.shape):
            raise ValueError(
                f"pred_masks of shape {tuple(instance_masks.shape)} do not match the semantic map "
                f"{tuple(semantic_results.shape)}"
            )
        sorted_inds = torch.argsort(-instance_results.scores)
        # One host transfer for the values the greedy loop needs, not one per instance.
        scores = instance_results.scores[sorted_inds].tolist()
        classes = instance_results.pred_classes[sorted_inds].tolist()
        mask_areas = instance_masks.flatten(1).sum(dim=1)[sorted_inds].tolist()
        occupied = torch.zeros_like(semantic_results, dtype=torch.bool)
        # Placement depends on what earlier (higher-scored) instances took: inherently sequential.
        for inst_id, score, category_id, mask_area in zip(sorted_inds.tolist(), scores, classes, mask_areas):
            if score < instances_score_thresh:
                break
            if mask_area == 0:
                continue
            mask = instance_masks[inst_id]
            intersect_area = (mask & occupied).sum().item()
            if intersect_area * 1.0 / mask_area > overlap_threshold:
                continue
            if intersect_area > 0:
                mask = mask & ~occupied
            current_segment_id += 1
            panoptic_seg[mask] = current_segment_id
            occupied |= mask
            segments_info.append(
                {
                    "id": current_segment_id,
                    "isthing": True,
                    "score": score,
                    "category_id": category_id,
                    "instance_id": inst_id,
                }
            )

    # Stuff: every label's free area at once, labels in increasing order (as torch.unique sorts them).
    free = panoptic_seg == 0
    labels, inverse, areas = torch.unique(semantic_results[free], return_inverse=True, return_counts=True)
    segment_ids = []
    for label, area in zip(labels.tolist(), areas.tolist()):
        if label == 0 or area < stuff_area_thresh:  # 0 is the merged "things" class
            segment_ids.append(0)
            continue
        current_segment_id += 1
        segment_ids.append(current_segment_id)
        segments_info.append({"id": current_segment_id, "isthing": False, "category_id": label, "area": area})
    if segment_ids:
        ids = torch.tensor(segment_ids, dtype=torch.int32, device=panoptic_seg.device)
        panoptic_seg[free] = ids[inverse]
    return panoptic_seg, segments_info
