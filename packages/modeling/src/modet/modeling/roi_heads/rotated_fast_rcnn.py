"""Rotated Fast R-CNN: ``RROIHeads``, ``RotatedFastRCNNOutputLayers`` and ``fast_rcnn_inference_rotated``.

The box branch of :class:`StandardROIHeads` on ``RotatedBoxes`` (x_ctr, y_ctr, w, h, angle):
regions are cropped by ``ROIAlignRotated``, matched by rotated IoU, regressed by the five
deltas of :class:`Box2BoxTransformRotated` and filtered by rotated NMS. Boxes only: no mask or
keypoint head, as in detectron2.

Shapes: R regions, Ri in image i, K foreground classes; ``gt_classes`` in [0, K], K background.
"""

from __future__ import annotations

from typing import Any

import torch

from modet.core.config import configurable
from modet.core.events import get_event_storage
from modet.ops import ShapeSpec, batched_nms_rotated
from modet.structures import Instances, RotatedBoxes, pairwise_iou_rotated

from ..box_regression import Box2BoxTransformRotated
from ..proposal_generator.proposal_utils import add_ground_truth_to_proposals
from .box_head import build_box_head
from .fast_rcnn import FastRCNNOutputLayers
from .roi_heads import StandardROIHeads, _init_box_pooler, _mean

__all__ = [
    "RROIHeads",
    "RotatedFastRCNNOutputLayers",
    "fast_rcnn_inference_rotated",
    "fast_rcnn_inference_single_image_rotated",
]

_BOX_DIM = 5


def fast_rcnn_inference_rotated(
    boxes: list[torch.Tensor] | tuple[torch.Tensor, ...],
    scores: list[torch.Tensor] | tuple[torch.Tensor, ...],
    image_shapes: list[tuple[int, int]],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
) -> tuple[list[Instances], list[torch.Tensor]]:
    """Threshold, per-class rotated NMS and top-k for every image of a batch.

    Args:
        boxes: per image, (Ri, K*5) class-specific or (Ri, 5) class-agnostic rotated boxes.
        scores: per image, (Ri, K+1) class probabilities, background last.
        image_shapes: per image, (height, width) to clip nearly horizontal boxes to.
        score_thresh: keep detections scoring strictly above this.
        nms_thresh: rotated IoU threshold of the per-class NMS.
        topk_per_image: keep at most this many detections per image; < 0 keeps all.

    Returns:
        The detections per image (``pred_boxes`` as ``RotatedBoxes``, ``scores``, ``pred_classes``),
        and per image the index in [0, Ri) of the region each detection came from.
    """
    if not (len(boxes) == len(scores) == len(image_shapes)):
        raise ValueError(
            f"fast_rcnn_inference_rotated: boxes, scores and image_shapes must have one entry per image, "
            f"got {len(boxes)}, {len(scores)} and {len(image_shapes)}"
        )
    result_per_image = [
        fast_rcnn_inference_single_image_rotated(
            boxes_per_image, scores_per_image, image_shape, score_thresh, nms_thresh, topk_per_image
        )
        for scores_per_image, boxes_per_image, image_shape in zip(scores, boxes, image_shapes)
    ]
    return [x[0] for x in result_per_image], [x[1] for x in result_per_image]


@torch.no_grad()
def fast_rcnn_inference_single_image_rotated(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    image_shape: tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    topk_per_image: int,
) -> tuple[Instances, torch.Tensor]:
    """:func:`fast_rcnn_inference_rotated` for one image."""
    if boxes.dim() != 2 or boxes.shape[1] % _BOX_DIM != 0 or scores.dim() != 2 or boxes.shape[0] != scores.shape[0]:
        raise ValueError(
            "fast_rcnn_inference_single_image_rotated: expected boxes (R, 5) or (R, K*5) and scores (R, K+1) "
            f"with the same R, got boxes {tuple(boxes.shape)} and scores {tuple(scores.shape)}"
        )
    # Regions whose boxes or scores are inf/nan (a diverged model) are dropped.
    valid_mask = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
    if not valid_mask.all():
        boxes, scores = boxes[valid_mask], scores[valid_mask]

    scores = scores[:, :-1]
    num_bbox_reg_classes = boxes.shape[1] // _BOX_DIM
    if num_bbox_reg_classes not in (1, scores.shape[1]):
        raise ValueError(
            f"fast_rcnn_inference_single_image_rotated: boxes have {num_bbox_reg_classes} classes but scores "
            f"have {scores.shape[1]} foreground classes"
        )
    clipped = RotatedBoxes(boxes.reshape(-1, _BOX_DIM))
    clipped.clip(image_shape)
    boxes = clipped.tensor.view(-1, num_bbox_reg_classes, _BOX_DIM)  # R x C x 5

    # filter_inds rows are (region, class) of the detections scoring above the threshold.
    filter_mask = scores > score_thresh
    filter_inds = filter_mask.nonzero()
    boxes = boxes[filter_inds[:, 0], 0] if num_bbox_reg_classes == 1 else boxes[filter_mask]
    scores = scores[filter_mask]

    keep = batched_nms_rotated(boxes, scores, filter_inds[:, 1], nms_thresh)
    if topk_per_image >= 0:
        keep = keep[:topk_per_image]
    boxes, scores, filter_inds = boxes[keep], scores[keep], filter_inds[keep]

    result = Instances(image_shape)
    result.pred_boxes = RotatedBoxes(boxes)
    result.scores = scores
    result.pred_classes = filter_inds[:, 1]
    return result, filter_inds[:, 0]


class RotatedFastRCNNOutputLayers(FastRCNNOutputLayers):
    """:class:`FastRCNNOutputLayers` predicting K+1 scores and (K or 1) x 5 rotated box deltas.

    Built with a :class:`Box2BoxTransformRotated` (five ``MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS``);
    losses are :class:`FastRCNNOutputLayers`' on rotated boxes (smooth L1 on the five deltas).
    """

    @classmethod
    def from_config(cls, cfg: Any, input_shape: ShapeSpec) -> dict[str, Any]:
        args = super().from_config(cfg, input_shape)
        args["box2box_transform"] = Box2BoxTransformRotated(weights=cfg.MODEL.ROI_BOX_HEAD.BBOX_REG_WEIGHTS)
        return args

    def inference(
        self, predictions: tuple[torch.Tensor, torch.Tensor], proposals: list[Instances]
    ) -> tuple[list[Instances], list[torch.Tensor]]:
        """Detections per image by :func:`fast_rcnn_inference_rotated`, with this head's test thresholds."""
        boxes = self.predict_boxes(predictions, proposals)
        scores = self.predict_probs(predictions, proposals)
        image_shapes = [x.image_size for x in proposals]
        return fast_rcnn_inference_rotated(
            boxes,
            scores,
            image_shapes,
            self.test_score_thresh,
            self.test_nms_thresh,
            self.test_topk_per_image,
        )


class RROIHeads(StandardROIHeads):
    """The ROI heads of Rotated Faster R-CNN: a rotated box branch, and no mask or keypoint head."""

    @configurable
    def __init__(self, **kwargs: Any) -> None:
        """The arguments of :class:`StandardROIHeads`, without mask, keypoint or ``train_on_pred_boxes``."""
        super().__init__(**kwargs)
        if self.mask_on or self.keypoint_on:
            raise ValueError("RROIHeads predicts rotated boxes only: MODEL.MASK_ON and MODEL.KEYPOINT_ON must be False")
        if self.train_on_pred_boxes:
            raise ValueError("RROIHeads does not implement MODEL.ROI_BOX_HEAD.TRAIN_ON_PRED_BOXES")

    @classmethod
    def _init_box_head(cls, cfg: Any, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        pooler_type = cfg.MODEL.ROI_BOX_HEAD.POOLER_TYPE
        if pooler_type != "ROIAlignRotated":
            raise ValueError(
                f"RROIHeads crops rotated boxes: MODEL.ROI_BOX_HEAD.POOLER_TYPE must be 'ROIAlignRotated', "
                f"got {pooler_type!r}"
            )
        in_features, box_pooler, pooled_shape = _init_box_pooler(cfg, input_shape)
        box_head = build_box_head(cfg, pooled_shape)
        return {
            "box_in_features": in_features,
            "box_pooler": box_pooler,
            "box_head": box_head,
            "box_predictor": RotatedFastRCNNOutputLayers(cfg, box_head.output_shape),
        }

    @torch.no_grad()
    def label_and_sample_proposals(self, proposals: list[Instances], targets: list[Instances]) -> list[Instances]:
        """Match rotated proposals to the ground truth by rotated IoU, label them and sample
        ``batch_size_per_image`` per image.

        Returns, per image, the sampled proposals with ``proposal_boxes``, ``gt_classes`` and, when
        the image has ground truth, the matched ``gt_boxes`` (meaningful for foreground only).
        """
        if len(proposals) != len(targets):
            raise ValueError(
                f"label_and_sample_proposals: {len(proposals)} images of proposals but {len(targets)} of targets"
            )
        if self.proposal_append_gt:
            proposals = add_ground_truth_to_proposals([x.gt_boxes for x in targets], proposals)

        proposals_with_gt = []
        num_fg_samples, num_bg_samples = [], []
        for proposals_per_image, targets_per_image in zip(proposals, targets):
            has_gt = len(targets_per_image) > 0
            match_quality_matrix = pairwise_iou_rotated(targets_per_image.gt_boxes, proposals_per_image.proposal_boxes)
            matched_idxs, matched_labels = self.proposal_matcher(match_quality_matrix)
            sampled_idxs, gt_classes = self._sample_proposals(
                matched_idxs, matched_labels, targets_per_image.gt_classes
            )
            proposals_per_image = proposals_per_image[sampled_idxs]
            proposals_per_image.gt_classes = gt_classes
            if has_gt:
                proposals_per_image.gt_boxes = targets_per_image.gt_boxes[matched_idxs[sampled_idxs]]

            num_bg_samples.append((gt_classes == self.num_classes).sum().item())
            num_fg_samples.append(gt_classes.numel() - num_bg_samples[-1])
            proposals_with_gt.append(proposals_per_image)

        storage = get_event_storage()
        storage.put_scalar("roi_head/num_fg_samples", _mean(num_fg_samples))
        storage.put_scalar("roi_head/num_bg_samples", _mean(num_bg_samples))
        return proposals_with_gt
