"""Selecting RPN proposals (``find_top_rpn_proposals``) and adding ground truth to them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from modet.ops import batched_nms, cat, is_exporting, move_device_like
from modet.structures import Boxes, Instances

__all__ = ["add_ground_truth_to_proposals", "find_top_rpn_proposals"]


def find_top_rpn_proposals(
    proposals: list[torch.Tensor],
    pred_objectness_logits: list[torch.Tensor],
    image_sizes: list[tuple[int, int]],
    nms_thresh: float,
    pre_nms_topk: int,
    post_nms_topk: int,
    min_box_size: float,
    training: bool,
) -> list[Instances]:
    """Per image: top ``pre_nms_topk`` per level, clip, drop small boxes, NMS per level, top ``post_nms_topk``.

    ``proposals``: one (N, Hi*Wi*A, 4) tensor per level; ``pred_objectness_logits``: one (N, Hi*Wi*A).
    Returns one ``Instances`` per image with ``proposal_boxes`` and ``objectness_logits``, by score.
    """
    num_images = len(image_sizes)
    device = proposals[0].device

    # 1. Top-k anchors of every level, for every image at once.
    topk_scores_per_level: list[torch.Tensor] = []
    topk_proposals_per_level: list[torch.Tensor] = []
    level_ids_per_level: list[torch.Tensor] = []
    batch_idx = move_device_like(torch.arange(num_images, device=device), proposals[0])
    for level_id, (proposals_i, logits_i) in enumerate(zip(proposals, pred_objectness_logits)):
        num_proposals_i = min(logits_i.shape[1], pre_nms_topk)
        topk_scores_i, topk_idx = logits_i.topk(num_proposals_i, dim=1)
        topk_proposals_per_level.append(proposals_i[batch_idx[:, None], topk_idx])
        topk_scores_per_level.append(topk_scores_i)
        level_ids_per_level.append(
            move_device_like(torch.full((num_proposals_i,), level_id, dtype=torch.int64, device=device), proposals[0])
        )

    # 2. All levels together.
    topk_scores = cat(topk_scores_per_level, dim=1)
    topk_proposals = cat(topk_proposals_per_level, dim=1)
    level_ids = cat(level_ids_per_level, dim=0)

    # 3. Per image: NMS within each level, then the overall top-k.
    results = []
    for n, image_size in enumerate(image_sizes):
        boxes = Boxes(topk_proposals[n])
        scores_per_img = topk_scores[n]
        levels = level_ids
        valid_mask = torch.isfinite(boxes.tensor).all(dim=1) & torch.isfinite(scores_per_img)
        exporting = is_exporting()  # no branch on data then: masking by an all-true mask changes nothing
        if exporting or not valid_mask.all():
            if training:
                raise FloatingPointError("Predicted boxes or scores contain Inf/NaN. Training has diverged.")
            boxes, scores_per_img, levels = boxes[valid_mask], scores_per_img[valid_mask], levels[valid_mask]
        boxes.clip(image_size)

        keep = boxes.nonempty(threshold=min_box_size)
        if exporting or keep.sum().item() != len(boxes):
            boxes, scores_per_img, levels = boxes[keep], scores_per_img[keep], levels[keep]

        keep = batched_nms(boxes.tensor, scores_per_img, levels, nms_thresh)
        # batched_nms returns indices by decreasing score, so this is the per-image top-k.
        keep = keep[:post_nms_topk]

        result = Instances(image_size)
        result.proposal_boxes = boxes[keep]
        result.objectness_logits = scores_per_img[keep]
        results.append(result)
    return results


def add_ground_truth_to_proposals(gt: Sequence[Instances | Boxes], proposals: list[Instances]) -> list[Instances]:
    """Append each image's ground-truth boxes to its proposals (objectness logit of P = 1 - 1e-10)."""
    if gt is None:
        raise ValueError("add_ground_truth_to_proposals needs the ground truth")
    if len(proposals) != len(gt):
        raise ValueError("proposals and gt should have the same length as the number of images!")
    if len(proposals) == 0:
        return proposals
    return [add_ground_truth_to_proposals_single_image(gt_i, proposals_i) for gt_i, proposals_i in zip(gt, proposals)]


def add_ground_truth_to_proposals_single_image(gt: Instances | Boxes, proposals: Instances) -> Instances:
    """:func:`add_ground_truth_to_proposals` for one image; gt fields are carried onto the new rows."""
    if isinstance(gt, Boxes):
        gt = Instances(proposals.image_size, gt_boxes=gt)
    gt_boxes = gt.gt_boxes
    device = proposals.objectness_logits.device
    gt_logit_value = math.log((1.0 - 1e-10) / (1 - (1.0 - 1e-10)))
    gt_logits = gt_logit_value * torch.ones(len(gt_boxes), device=device)

    # Instances.cat needs the same fields in both parts.
    gt_proposal = Instances(proposals.image_size, **gt.get_fields())
    gt_proposal.proposal_boxes = gt_boxes
    gt_proposal.objectness_logits = gt_logits
    for key in proposals.get_fields():
        if not gt_proposal.has(key):  # AssertionError, as detectron2 raises here
            raise AssertionError(f"The attribute {key!r} in `proposals` does not exist in `gt`")
    return Instances.cat([proposals, gt_proposal])
