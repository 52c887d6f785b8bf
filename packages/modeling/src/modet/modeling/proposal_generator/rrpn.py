"""Rotated Region Proposal Network (:paper:`RRPN`): ``RRPN`` and ``find_top_rrpn_proposals``.

The RPN of :mod:`.rpn` on rotated anchors (x_ctr, y_ctr, w, h, angle): anchors are matched by
rotated IoU, deltas are :class:`Box2BoxTransformRotated`'s five values, and proposals go through
rotated NMS. Everything else (head, sampling, losses) is the RPN's.
"""

from __future__ import annotations

from typing import Any

import torch

from modet.core.config import CfgNode, configurable
from modet.ops import ShapeSpec, batched_nms_rotated, cat, move_device_like
from modet.structures import Boxes, Instances, RotatedBoxes, pairwise_iou_rotated

from ..box_regression import Box2BoxTransformRotated
from .rpn import RPN

__all__ = ["RRPN", "find_top_rrpn_proposals"]


def find_top_rrpn_proposals(
    proposals: list[torch.Tensor],
    pred_objectness_logits: list[torch.Tensor],
    image_sizes: list[tuple[int, int]],
    nms_thresh: float,
    pre_nms_topk: int,
    post_nms_topk: int,
    min_box_size: float,
    training: bool,
) -> list[Instances]:
    """Per image: top ``pre_nms_topk`` per level, clip, drop small boxes, rotated NMS per level, top
    ``post_nms_topk`` over all levels.

    ``proposals``: one (N, Hi*Wi*A, 5) tensor per level; ``pred_objectness_logits``: one (N, Hi*Wi*A).
    ``training`` only decides whether non-finite boxes or scores raise (training) or are dropped.
    Returns one ``Instances`` per image with ``proposal_boxes`` (``RotatedBoxes``) and
    ``objectness_logits``, by decreasing score.
    """
    if len(proposals) != len(pred_objectness_logits):
        raise ValueError(
            f"find_top_rrpn_proposals: {len(proposals)} levels of proposals but "
            f"{len(pred_objectness_logits)} levels of objectness logits"
        )
    if proposals and proposals[0].shape[-1] != 5:
        raise ValueError(
            f"find_top_rrpn_proposals: proposals must be (N, R, 5) rotated boxes, got {tuple(proposals[0].shape)}"
        )
    num_images = len(image_sizes)
    device = proposals[0].device

    # 1. The top-k anchors of every level, for all images at once.
    topk_scores_per_level, topk_proposals_per_level, level_ids_per_level = [], [], []
    batch_idx = move_device_like(torch.arange(num_images, device=device), proposals[0])
    for level_id, (proposals_i, logits_i) in enumerate(zip(proposals, pred_objectness_logits)):
        num_proposals_i = min(logits_i.shape[1], pre_nms_topk)
        topk_scores_i, topk_idx = logits_i.topk(num_proposals_i, dim=1)
        topk_proposals_per_level.append(proposals_i[batch_idx[:, None], topk_idx])
        topk_scores_per_level.append(topk_scores_i)
        level_ids_per_level.append(
            move_device_like(torch.full((num_proposals_i,), level_id, dtype=torch.int64, device=device), proposals[0])
        )
    topk_scores = cat(topk_scores_per_level, dim=1)
    topk_proposals = cat(topk_proposals_per_level, dim=1)
    level_ids = cat(level_ids_per_level, dim=0)

    # 2. Per image: rotated NMS within each level, then the overall top-k.
    results = []
    for n, image_size in enumerate(image_sizes):
        boxes = RotatedBoxes(topk_proposals[n])
        scores_per_img = topk_scores[n]
        levels = level_ids
        valid_mask = torch.isfinite(boxes.tensor).all(dim=1) & torch.isfinite(scores_per_img)
        if not valid_mask.all():
            if training:
                raise FloatingPointError("Predicted boxes or scores contain Inf/NaN. Training has diverged.")
            boxes, scores_per_img, levels = boxes[valid_mask], scores_per_img[valid_mask], levels[valid_mask]
        # Only nearly horizontal boxes are clipped (see RotatedBoxes.clip).
        boxes.clip(image_size)

        keep = boxes.nonempty(threshold=min_box_size)
        if keep.sum().item() != len(boxes):
            boxes, scores_per_img, levels = boxes[keep], scores_per_img[keep], levels[keep]

        keep = batched_nms_rotated(boxes.tensor, scores_per_img, levels, nms_thresh)
        # Indices come by decreasing score: this is the per-image top-k (not detectron1's per-batch one).
        keep = keep[:post_nms_topk]

        result = Instances(image_size)
        result.proposal_boxes = boxes[keep]
        result.objectness_logits = scores_per_img[keep]
        results.append(result)
    return results


class RRPN(RPN):
    """Rotated Region Proposal Network: an :class:`RPN` whose anchors and proposals are ``RotatedBoxes``.

    Build it with a :class:`~modet.modeling.anchor_generator.RotatedAnchorGenerator` and a
    :class:`Box2BoxTransformRotated` (from a config: ``MODEL.ANCHOR_GENERATOR.NAME:
    RotatedAnchorGenerator`` and five ``MODEL.RPN.BBOX_REG_WEIGHTS``).
    """

    @configurable
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """The arguments of :class:`RPN`; ``anchor_boundary_thresh`` must stay negative (off)."""
        super().__init__(*args, **kwargs)
        if self.anchor_boundary_thresh >= 0:
            raise NotImplementedError(
                "RRPN does not implement the legacy anchor_boundary_thresh (MODEL.RPN.BOUNDARY_THRESH): "
                f"got {self.anchor_boundary_thresh}, use -1"
            )
        if getattr(self.anchor_generator, "box_dim", 5) != 5:
            raise ValueError(
                f"RRPN needs rotated anchors (box_dim 5), got {type(self.anchor_generator).__name__} with box_dim "
                f"{self.anchor_generator.box_dim}: set MODEL.ANCHOR_GENERATOR.NAME to RotatedAnchorGenerator"
            )

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: dict[str, ShapeSpec]) -> dict[str, Any]:
        ret = super().from_config(cfg, input_shape)
        ret["box2box_transform"] = Box2BoxTransformRotated(weights=cfg.MODEL.RPN.BBOX_REG_WEIGHTS)
        return ret

    @torch.no_grad()
    def label_and_sample_anchors(
        self, anchors: list[Boxes], gt_instances: list[Instances]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per image: anchor labels (1 fg, 0 bg, -1 ignored) by rotated IoU, and the matched gt box
        (R, 5) of each anchor (zeros for an image without ground truth).

        ``anchors``: one ``RotatedBoxes`` per level (``RotatedBoxes.cat`` raises TypeError otherwise)."""
        all_anchors = RotatedBoxes.cat(anchors)
        gt_labels, matched_gt_boxes = [], []
        for gt in gt_instances:
            gt_boxes = gt.gt_boxes
            if not isinstance(gt_boxes, RotatedBoxes):
                raise TypeError(f"RRPN needs RotatedBoxes as gt_boxes, got {type(gt_boxes).__name__}")
            matched_idxs, gt_labels_i = self.anchor_matcher(pairwise_iou_rotated(gt_boxes, all_anchors))
            gt_labels_i = self._subsample_labels(gt_labels_i.to(device=gt_boxes.device))
            if len(gt_boxes) == 0:
                matched_gt_boxes_i = torch.zeros_like(all_anchors.tensor)  # all background: never read
            else:
                matched_gt_boxes_i = gt_boxes.tensor[matched_idxs]
            gt_labels.append(gt_labels_i)
            matched_gt_boxes.append(matched_gt_boxes_i)
        return gt_labels, matched_gt_boxes

    @torch.no_grad()
    def predict_proposals(
        self,
        anchors: list[Boxes],
        pred_objectness_logits: list[torch.Tensor],
        pred_anchor_deltas: list[torch.Tensor],
        image_sizes: list[tuple[int, int]],
    ) -> list[Instances]:
        """Decode the rotated proposals (``anchors``: one ``RotatedBoxes`` per level) and select them
        by :func:`find_top_rrpn_proposals`."""
        pred_proposals = self._decode_proposals(anchors, pred_anchor_deltas)
        return find_top_rrpn_proposals(
            pred_proposals,
            pred_objectness_logits,
            image_sizes,
            self.nms_thresh,
            self.pre_nms_topk[self.training],
            self.post_nms_topk[self.training],
            self.min_box_size,
            self.training,
        )
