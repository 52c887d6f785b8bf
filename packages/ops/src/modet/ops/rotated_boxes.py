"""``pairwise_iou_rotated`` (detectron2.layers.rotated_boxes), provided by modet.structures."""

from __future__ import annotations

from modet.structures import pairwise_iou_rotated

__all__ = ["pairwise_iou_rotated"]
