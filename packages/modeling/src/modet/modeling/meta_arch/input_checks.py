"""Checks of a model's ``list[dict]`` input, so bad input fails at the boundary with a clear message."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["check_batched_inputs"]


def _check_size(item: dict[str, Any], key: str, index: int) -> None:
    if key not in item:
        return
    value = item[key]
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"batched_inputs[{index}][{key!r}] must be a positive int (output size), got {value!r}")


def _check_instances(instances: Any, index: int) -> None:
    if not hasattr(instances, "image_size") or not hasattr(instances, "has"):
        raise TypeError(f"batched_inputs[{index}]['instances'] must be an Instances, got {type(instances).__name__}")
    if not instances.has("gt_boxes") or not instances.has("gt_classes"):
        raise ValueError(
            f"batched_inputs[{index}]['instances'] needs fields gt_boxes and gt_classes, "
            f"has {sorted(instances.get_fields())}"
        )
    boxes = getattr(instances.gt_boxes, "tensor", instances.gt_boxes)
    if boxes.numel() and not torch.isfinite(boxes).all():
        raise ValueError(f"batched_inputs[{index}]['instances'].gt_boxes has non-finite coordinates")
    if boxes.numel() and boxes.shape[-1] == 4 and ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        raise ValueError(
            f"batched_inputs[{index}]['instances'].gt_boxes has boxes with x1 < x0 or y1 < y0 (XYXY expected)"
        )


def check_batched_inputs(
    batched_inputs: Sequence[dict[str, Any]], num_channels: int, *, training: bool, needs_instances: bool = True
) -> None:
    """Raise a ValueError/TypeError naming the bad input, key and value.

    Each dict needs ``image``: a (C, H, W) tensor with C == ``num_channels`` (len(MODEL.PIXEL_MEAN)).
    ``height``/``width`` are optional positive ints (default: the image's own size). In training,
    ``instances`` (with ``gt_boxes``, ``gt_classes``) is required when ``needs_instances``. Ground-truth
    boxes may extend outside the image (as detectron2 allows) but must be finite XYXY boxes.
    """
    if isinstance(batched_inputs, dict) or not isinstance(batched_inputs, Sequence):
        raise TypeError(f"a model takes a list[dict] (one dict per image), got {type(batched_inputs).__name__}")
    if len(batched_inputs) == 0:
        raise ValueError("a model takes a non-empty list[dict], got an empty list")
    for index, item in enumerate(batched_inputs):
        if not isinstance(item, dict):
            raise TypeError(f"batched_inputs[{index}] must be a dict, got {type(item).__name__}")
        if "image" not in item:
            raise KeyError(f"batched_inputs[{index}] has no 'image' key (keys: {sorted(item)})")
        image = item["image"]
        if not isinstance(image, torch.Tensor):
            raise TypeError(
                f"batched_inputs[{index}]['image'] must be a torch.Tensor in (C, H, W) layout, got {type(image).__name__}"
            )
        if image.dim() != 3:
            raise ValueError(
                f"batched_inputs[{index}]['image'] must be (C, H, W), got shape {tuple(image.shape)}; "
                "pass one dict per image, not a batch tensor"
            )
        if image.shape[0] != num_channels:
            raise ValueError(
                f"batched_inputs[{index}]['image'] has {image.shape[0]} channels, the model expects {num_channels} "
                f"(len(MODEL.PIXEL_MEAN)); images are (C, H, W), got shape {tuple(image.shape)}"
            )
        if image.shape[1] == 0 or image.shape[2] == 0:
            raise ValueError(f"batched_inputs[{index}]['image'] is empty: shape {tuple(image.shape)}")
        if image.is_complex() or image.dtype == torch.bool:
            raise TypeError(f"batched_inputs[{index}]['image'] must be a real-valued tensor, got {image.dtype}")
        _check_size(item, "height", index)
        _check_size(item, "width", index)
        if training and needs_instances:
            if "instances" not in item:
                raise KeyError(
                    f"batched_inputs[{index}] has no 'instances' key: training needs ground truth "
                    f"(keys: {sorted(item)})"
                )
            _check_instances(item["instances"], index)
