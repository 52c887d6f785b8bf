"""Detection losses with fvcore's and detectron2's formulas: smooth L1, IoU-family, focal."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

__all__ = [
    "ciou_loss",
    "diou_loss",
    "giou_loss",
    "sigmoid_focal_loss",
    "sigmoid_focal_loss_jit",
    "sigmoid_focal_loss_star",
    "sigmoid_focal_loss_star_jit",
    "smooth_l1_loss",
]

_REDUCTIONS = ("none", "mean", "sum")


def _check_reduction(reduction: str, fn: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{fn}: `reduction` must be one of {_REDUCTIONS}, got {reduction!r}")


def _reduce_empty_safe(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    """'mean' of an empty loss is 0 (still connected to the graph) instead of NaN."""
    if reduction == "mean":
        return loss.mean() if loss.numel() > 0 else 0.0 * loss.sum()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_box_pair(boxes1: torch.Tensor, boxes2: torch.Tensor, fn: str) -> None:
    if boxes1.shape[-1:] != (4,) or boxes2.shape[-1:] != (4,):
        raise ValueError(
            f"{fn}: `boxes1` and `boxes2` must have a last dimension of 4 (XYXY), "
            f"got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}"
        )
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"{fn}: `boxes1` {tuple(boxes1.shape)} and `boxes2` {tuple(boxes2.shape)} must match")


def smooth_l1_loss(input: torch.Tensor, target: torch.Tensor, beta: float, reduction: str = "none") -> torch.Tensor:
    """Smooth L1 (Huber-like) loss: 0.5 * x**2 / beta where |x| < beta, else |x| - 0.5 * beta.

    ``beta`` < 1e-5 gives exactly the L1 loss (avoids dividing by ~0). A 'mean' over empty
    inputs is 0.
    """
    _check_reduction(reduction, "smooth_l1_loss")
    if beta < 1e-5:
        loss = torch.abs(input - target)
    else:
        diff = torch.abs(input - target)
        loss = torch.where(diff < beta, 0.5 * diff**2 / beta, diff - 0.5 * beta)
    return _reduce_empty_safe(loss, reduction)


def _intersection_and_union(
    boxes1: torch.Tensor, boxes2: torch.Tensor, fn: str
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
    _check_box_pair(boxes1, boxes2, fn)
    x1, y1, x2, y2 = boxes1.unbind(dim=-1)
    x1g, y1g, x2g, y2g = boxes2.unbind(dim=-1)
    if not bool((x2 >= x1).all()):
        raise ValueError(f"{fn}: bad box in `boxes1`: x1 larger than x2")
    if not bool((y2 >= y1).all()):
        raise ValueError(f"{fn}: bad box in `boxes1`: y1 larger than y2")
    xkis1, ykis1 = torch.max(x1, x1g), torch.max(y1, y1g)
    xkis2, ykis2 = torch.min(x2, x2g), torch.min(y2, y2g)
    overlaps = (ykis2 > ykis1) & (xkis2 > xkis1)
    intersection = torch.where(overlaps, (xkis2 - xkis1) * (ykis2 - ykis1), torch.zeros_like(x1))
    union = (x2 - x1) * (y2 - y1) + (x2g - x1g) * (y2g - y1g) - intersection
    return (x1, y1, x2, y2), (x1g, y1g, x2g, y2g), intersection, union


def giou_loss(boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """Generalized IoU loss, 1 - GIoU (Rezatofighi et al., 2019), on XYXY boxes of shape (N, 4) or (4,)."""
    _check_reduction(reduction, "giou_loss")
    (x1, y1, x2, y2), (x1g, y1g, x2g, y2g), intersection, union = _intersection_and_union(boxes1, boxes2, "giou_loss")
    iou = intersection / (union + eps)
    enclosing_area = (torch.max(x2, x2g) - torch.min(x1, x1g)) * (torch.max(y2, y2g) - torch.min(y1, y1g))
    giou = iou - ((enclosing_area - union) / (enclosing_area + eps))
    return _reduce_empty_safe(1 - giou, reduction)


def _center_distance_term(box: tuple[torch.Tensor, ...], box_gt: tuple[torch.Tensor, ...], eps: float) -> torch.Tensor:
    """Squared centre distance over squared diagonal of the smallest enclosing box."""
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = box_gt
    diag_len = (torch.max(x2, x2g) - torch.min(x1, x1g)) ** 2 + (torch.max(y2, y2g) - torch.min(y1, y1g)) ** 2 + eps
    distance = ((x2 + x1) / 2 - (x1g + x2g) / 2) ** 2 + ((y2 + y1) / 2 - (y1g + y2g) / 2) ** 2
    return distance / diag_len


def diou_loss(boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """Distance IoU loss (Zheng et al., 2019): 1 - IoU + centre distance term, on XYXY boxes."""
    _check_reduction(reduction, "diou_loss")
    box, box_gt, intersection, union = _intersection_and_union(boxes1, boxes2, "diou_loss")
    iou = intersection / (union + eps)
    loss = 1 - iou + _center_distance_term(box, box_gt, eps)
    return _reduce_empty_safe(loss, reduction)


def ciou_loss(boxes1: torch.Tensor, boxes2: torch.Tensor, reduction: str = "none", eps: float = 1e-7) -> torch.Tensor:
    """Complete IoU loss (Zheng et al., 2019): DIoU plus an aspect-ratio consistency term."""
    _check_reduction(reduction, "ciou_loss")
    box, box_gt, intersection, union = _intersection_and_union(boxes1, boxes2, "ciou_loss")
    iou = intersection / (union + eps)
    x1, y1, x2, y2 = box
    x1g, y1g, x2g, y2g = box_gt
    v = (4 / (math.pi**2)) * torch.pow(torch.atan((x2g - x1g) / (y2g - y1g)) - torch.atan((x2 - x1) / (y2 - y1)), 2)
    with torch.no_grad():
        alpha = v / (1 - iou + v + eps)
    loss = 1 - iou + _center_distance_term(box, box_gt, eps) + alpha * v
    return _reduce_empty_safe(loss, reduction)


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def sigmoid_focal_loss(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = -1, gamma: float = 2, reduction: str = "none"
) -> torch.Tensor:
    """Focal loss (RetinaNet, https://arxiv.org/abs/1708.02002) on logits ``inputs``.

    ``targets`` holds the binary label of each element. ``alpha`` in [0, 1] weights positives
    (negative: no weighting); ``gamma`` down-weights easy examples.
    """
    _check_reduction(reduction, "sigmoid_focal_loss")
    if inputs.shape != targets.shape:
        raise ValueError(
            f"sigmoid_focal_loss: `inputs` {tuple(inputs.shape)} and `targets` {tuple(targets.shape)} must match"
        )
    inputs = inputs.float()
    targets = targets.float()
    p = torch.sigmoid(inputs)
    ce_loss = F.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return _reduce(loss, reduction)


def sigmoid_focal_loss_star(
    inputs: torch.Tensor, targets: torch.Tensor, alpha: float = -1, gamma: float = 1, reduction: str = "none"
) -> torch.Tensor:
    """FL* (appendix of the focal loss paper): -log(sigmoid(gamma * x_t)) / gamma."""
    _check_reduction(reduction, "sigmoid_focal_loss_star")
    if inputs.shape != targets.shape:
        raise ValueError(
            f"sigmoid_focal_loss_star: `inputs` {tuple(inputs.shape)} and `targets` {tuple(targets.shape)} must match"
        )
    inputs = inputs.float()
    targets = targets.float()
    loss = -F.logsigmoid(gamma * (inputs * (2 * targets - 1))) / gamma
    if alpha >= 0:
        loss = loss * (alpha * targets + (1 - alpha) * (1 - targets))
    return _reduce(loss, reduction)


# fvcore exposes TorchScript-compiled copies; TorchScript is deprecated in current PyTorch,
# so the "_jit" names are the same eager functions (identical results).
sigmoid_focal_loss_jit = sigmoid_focal_loss
sigmoid_focal_loss_star_jit = sigmoid_focal_loss_star
