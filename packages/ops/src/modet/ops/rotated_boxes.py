"""``pairwise_iou_rotated`` (detectron2.layers.rotated_boxes), provided by modet.structures."""

from __future__ import annotations

import torch

__all__ = ["pairwise_iou_rotated"]


def pairwise_iou_rotated(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """IoU between every pair of rotated boxes (x_ctr, y_ctr, w, h, angle_degrees): an (N, M) tensor."""
    from modet.structures import pairwise_iou_rotated as _pairwise_iou_rotated

    return _pairwise_iou_rotated(boxes1, boxes2)
