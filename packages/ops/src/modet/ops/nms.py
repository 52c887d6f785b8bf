"""Non-maximum suppression for axis-aligned (torchvision) and rotated (pure torch) boxes."""

from __future__ import annotations

import math

import torch
from torchvision.ops import boxes as box_ops
from torchvision.ops import nms

from modet.structures.rotated_iou import rotated_intersection_area

from .wrappers import is_exporting

__all__ = ["batched_nms", "batched_nms_rotated", "nms", "nms_rotated"]

# Boxes resolved together; bounds both memory and the fixed-point iterations per block.
_NMS_BLOCK_SIZE = 256
# Boxes with a smaller area are empty (IoU 0), as in modet.structures' rotated IoU.
_MIN_AREA = 1e-14


def _check_nms_inputs(boxes: torch.Tensor, scores: torch.Tensor, box_dim: int, fn: str) -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] != box_dim:
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{fn}: `boxes` must be a tensor of shape (N, {box_dim}), got {shape}")
    if not isinstance(scores, torch.Tensor) or scores.shape != boxes.shape[:1]:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"{fn}: `scores` must be a tensor of shape ({boxes.shape[0]},), got {shape}")


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """torchvision's ``batched_nms`` in float32 (fp16 lacks the range for the per-class offsets)."""
    _check_nms_inputs(boxes, scores, 4, "batched_nms")
    if idxs.shape != scores.shape:
        raise ValueError(f"batched_nms: `idxs` must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    if is_exporting():
        return _batched_nms_by_offsets(boxes.float(), scores, idxs, iou_threshold)
    return box_ops.batched_nms(boxes.float(), scores, idxs, iou_threshold)


def _batched_nms_by_offsets(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """One NMS over boxes moved apart by category, with no branch on the number of boxes.

    torchvision's own form when its models are traced; it is what an exported graph runs (one
    ONNX NonMaxSuppression). Eager code keeps torchvision's choice, which runs one NMS per
    category when there are many boxes: the two differ only in rounding of the shifted boxes.
    """
    max_coordinate = torch.cat([boxes.flatten(), boxes.new_zeros(1)]).max()  # 0 when there are no boxes
    offsets = idxs.to(boxes) * (max_coordinate + 1)
    return nms(boxes + offsets[:, None], scores, iou_threshold)


def _axis_aligned_extents(boxes: torch.Tensor) -> torch.Tensor:
    """(x0, y0, x1, y1) of the axis-aligned box enclosing each rotated box."""
    theta = boxes[:, 4] * (math.pi / 180.0)
    cos, sin = torch.cos(theta).abs(), torch.sin(theta).abs()
    half_w = (boxes[:, 2] * cos + boxes[:, 3] * sin) / 2
    half_h = (boxes[:, 2] * sin + boxes[:, 3] * cos) / 2
    return torch.stack([boxes[:, 0] - half_w, boxes[:, 1] - half_h, boxes[:, 0] + half_w, boxes[:, 1] + half_h], 1)


def _rotated_iou_reaching(boxes1: torch.Tensor, boxes2: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """(N, M) IoU of rotated boxes, exact wherever it can reach ``iou_threshold`` and 0 elsewhere.

    The intersection of two rotated boxes lies inside the intersection of their enclosing
    axis-aligned boxes, so inter_aabb / (area1 + area2 - inter_aabb) bounds the IoU from above
    (exactly it for axis-aligned boxes). Only pairs whose bound reaches the threshold go
    through the exact polygon clipping, which is what NMS spends its time on.
    """
    area1 = boxes1[:, 2] * boxes1[:, 3]
    area2 = boxes2[:, 2] * boxes2[:, 3]
    extents1, extents2 = _axis_aligned_extents(boxes1), _axis_aligned_extents(boxes2)
    top_left = torch.max(extents1[:, None, :2], extents2[None, :, :2])
    bottom_right = torch.min(extents1[:, None, 2:], extents2[None, :, 2:])
    inter_bound = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    inter_bound = torch.min(inter_bound, torch.min(area1[:, None], area2[None, :]))
    iou_bound = inter_bound / (area1[:, None] + area2[None, :] - inter_bound)
    # Margin for rounding in the bound; degenerate boxes have IoU 0 (as in modet.structures).
    may_reach = (iou_bound >= iou_threshold - 1e-5) & (area1[:, None] >= _MIN_AREA) & (area2[None, :] >= _MIN_AREA)
    rows, cols = may_reach.nonzero(as_tuple=True)
    iou = torch.zeros(len(boxes1), len(boxes2), dtype=boxes1.dtype, device=boxes1.device)
    if len(rows) > 0:
        inter = rotated_intersection_area(boxes1[rows], boxes2[cols])
        iou[rows, cols] = inter / (area1[rows] + area2[cols] - inter)
    return iou


def _greedy_keep_in_block(candidates: torch.Tensor, suppresses: torch.Tensor) -> torch.Tensor:
    """Greedy NMS inside one block of score-sorted boxes.

    ``candidates[j]``: box j is not suppressed by a kept box of an earlier block.
    ``suppresses[i, j]`` (only i < j set): box i would suppress box j. Greedy NMS keeps j iff
    it is a candidate and no kept i < j suppresses it. Applying that rule to every box at
    once, starting from "keep every candidate", reaches the unique solution in at most
    (longest chain of suppressions) steps, each one vectorised matrix-vector product.
    """
    keep = candidates
    suppresses_f = suppresses.to(torch.float32)
    for _ in range(suppresses.shape[0] + 1):
        new_keep = candidates & ((keep.to(torch.float32) @ suppresses_f) == 0)
        if torch.equal(new_keep, keep):
            break
        keep = new_keep
    return keep


def nms_rotated(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS on rotated boxes (x_ctr, y_ctr, width, height, angle_degrees).

    Removes boxes whose IoU with a higher-scoring kept box is >= ``iou_threshold``
    (detectron2's CPU kernel). The angle does not matter beyond the IoU: (5, 3, 4, 2, -90)
    and (5, 3, 4, 2, 90) cover the same region and have IoU 1.

    Returns:
        int64 indices of the kept boxes, in decreasing order of score.
    """
    _check_nms_inputs(boxes, scores, 5, "nms_rotated")
    if boxes.shape[0] == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    if iou_threshold <= 0:  # every IoU (even 0) reaches it: the best box suppresses all others
        return torch.argmax(scores).reshape(1)
    order = torch.sort(scores, descending=True, stable=True).indices
    sorted_boxes = boxes[order].to(torch.promote_types(boxes.dtype, torch.float32))
    num = sorted_boxes.shape[0]
    keep = torch.zeros(num, dtype=torch.bool, device=boxes.device)
    # Blocks in score order: boxes kept in earlier blocks suppress a block's boxes at once,
    # then the block resolves itself. Only kept boxes are compared with later blocks.
    for start in range(0, num, _NMS_BLOCK_SIZE):
        block = sorted_boxes[start : start + _NMS_BLOCK_SIZE]
        kept_before = sorted_boxes[:start][keep[:start]]
        if len(kept_before) > 0:
            candidates = ~(_rotated_iou_reaching(kept_before, block, iou_threshold) >= iou_threshold).any(dim=0)
        else:
            candidates = torch.ones(len(block), dtype=torch.bool, device=boxes.device)
        within = (_rotated_iou_reaching(block, block, iou_threshold) >= iou_threshold).triu_(diagonal=1)
        keep[start : start + len(block)] = _greedy_keep_in_block(candidates, within)
    return order[keep]


def batched_nms_rotated(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Rotated NMS done independently per category ``idxs``.

    Boxes of different categories are moved apart by a per-category offset larger than the
    extent of all boxes (measured from the minimum coordinate, so negative coordinates
    work), then one ``nms_rotated`` runs over all of them.
    """
    _check_nms_inputs(boxes, scores, 5, "batched_nms_rotated")
    if idxs.shape != scores.shape:
        raise ValueError(f"batched_nms_rotated: `idxs` must have shape {tuple(scores.shape)}, got {tuple(idxs.shape)}")
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    boxes = boxes.float()  # fp16 lacks the range for the offsets
    half_extent = torch.max(boxes[:, 2], boxes[:, 3]) / 2
    max_coordinate = (torch.max(boxes[:, 0], boxes[:, 1]) + half_extent).max()
    min_coordinate = (torch.min(boxes[:, 0], boxes[:, 1]) - half_extent).min()
    offsets = idxs.to(boxes) * (max_coordinate - min_coordinate + 1)
    boxes_for_nms = boxes.clone()
    boxes_for_nms[:, :2] += offsets[:, None]
    return nms_rotated(boxes_for_nms, scores, iou_threshold)
