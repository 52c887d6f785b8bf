"""The one check of a model's ``list[dict]`` input, run by every meta-architecture before any compute.

Bad input fails here with an error naming the input index, the key and the value, instead
of deep inside a kernel or, worse, silently (a NaN image gives no detections; a class id out
of range becomes background). Structure (types, shapes) is checked per input; values (NaN
pixels, boxes, class ids, segmentation labels) with a few whole-tensor reductions and one
host sync per kind, never a Python loop over boxes. Value checks are skipped while the model
is traced or exported, where the inputs are symbolic.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["check_batched_inputs"]


def _symbolic() -> bool:
    """Whether tensors are being traced (jit.trace, torch.export): their values are not known."""
    return torch.jit.is_tracing() or torch.compiler.is_exporting()


def _first_true(flags: list[torch.Tensor]) -> int | None:
    """Index of the first true 0-d flag, with one host sync for all of them (None if none)."""
    if not flags:
        return None
    stacked = torch.stack([flag.to(flags[0].device) for flag in flags])
    if not bool(stacked.any()):
        return None
    return int(stacked.int().argmax())


def _check_size(item: dict[str, Any], key: str, index: int) -> None:
    """``height``/``width``: a positive integer (Python, numpy or a one-element tensor)."""
    if key not in item:
        return
    value = item[key]
    if isinstance(value, torch.SymInt) or (isinstance(value, torch.Tensor) and _symbolic()):
        return  # a size read from a tensor under tracing or torch.export
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = value.item()
    if isinstance(value, (bool, torch.Tensor)) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"batched_inputs[{index}][{key!r}] must be a positive int (output size), got {value!r}")


def _check_image(item: dict[str, Any], index: int, num_channels: int) -> torch.Tensor:
    if "image" not in item:
        raise KeyError(f"batched_inputs[{index}] has no 'image' key (keys: {sorted(item)})")
    image = item["image"]
    where = f"batched_inputs[{index}]['image']"
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"{where} must be a torch.Tensor in (C, H, W) layout, got {type(image).__name__}")
    if image.dim() != 3:
        raise ValueError(
            f"{where} must be (C, H, W), got shape {tuple(image.shape)}; pass one dict per image, not a batch tensor"
        )
    if torch.jit.is_tracing():  # sizes are traced values there: comparing them warns and bakes them in
        return image
    if image.shape[0] != num_channels:
        raise ValueError(
            f"{where} has {image.shape[0]} channels, the model expects {num_channels} "
            f"(len(MODEL.PIXEL_MEAN)); images are (C, H, W), got shape {tuple(image.shape)}"
        )
    if image.shape[1] == 0 or image.shape[2] == 0:
        raise ValueError(f"{where} is empty: shape {tuple(image.shape)}")
    if image.is_complex() or image.dtype == torch.bool:
        raise TypeError(f"{where} must be a real-valued tensor, got {image.dtype}")
    return image


def _check_pixels(images: list[torch.Tensor]) -> None:
    """No NaN or inf pixel (they turn every detection score into NaN: no output, no word)."""
    floating = [(i, image) for i, image in enumerate(images) if image.is_floating_point()]
    bad = _first_true([~torch.isfinite(image).all() for _, image in floating])
    if bad is not None:
        index, image = floating[bad]
        count = int((~torch.isfinite(image)).sum())
        raise ValueError(
            f"batched_inputs[{index}]['image'] has {count} NaN or infinite pixel value(s) of {image.numel()}; "
            "a model input must be finite"
        )


def _instances_structure(instances: Any, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    where = f"batched_inputs[{index}]['instances']"
    if not hasattr(instances, "image_size") or not hasattr(instances, "has"):
        raise TypeError(f"{where} must be an Instances, got {type(instances).__name__}")
    if not instances.has("gt_boxes") or not instances.has("gt_classes"):
        raise ValueError(f"{where} needs fields gt_boxes and gt_classes, has {sorted(instances.get_fields())}")
    boxes = getattr(instances.gt_boxes, "tensor", instances.gt_boxes)
    if not isinstance(boxes, torch.Tensor) or boxes.dim() != 2 or boxes.shape[-1] not in (4, 5):
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise ValueError(f"{where}.gt_boxes must be (N, 4) XYXY boxes (or (N, 5) rotated), got {shape}")
    classes = instances.gt_classes
    if not isinstance(classes, torch.Tensor) or classes.dtype != torch.int64 or classes.dim() != 1:
        what = (
            f"{classes.dtype} tensor of shape {tuple(classes.shape)}"
            if isinstance(classes, torch.Tensor)
            else type(classes).__name__
        )
        raise TypeError(f"{where}.gt_classes must be a 1-d int64 (torch.long) tensor of class indices, got a {what}")
    return boxes, classes


def _box_faults(boxes: torch.Tensor) -> torch.Tensor:
    """Per box: not finite, or of zero or negative width/height (XYXY; or w, h of rotated boxes)."""
    if boxes.shape[-1] == 4:
        widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    else:
        widths, heights = boxes[:, 2], boxes[:, 3]
    return ~torch.isfinite(boxes).all(dim=1) | ~(widths > 0) | ~(heights > 0)


def _check_instances(items: Sequence[dict[str, Any]], num_classes: int | None) -> None:
    """Ground truth: finite boxes of positive size, int64 class ids in ``[0, num_classes)``."""
    fields = [_instances_structure(item["instances"], i) for i, item in enumerate(items)]
    if _symbolic():
        return
    bad = _first_true([_box_faults(boxes).any() for boxes, _ in fields])
    if bad is not None:
        boxes = fields[bad][0]
        j = int(_box_faults(boxes).int().argmax())
        if boxes.shape[-1] == 4:
            layout, size_rule = "(x0, y0, x1, y1)", "x1 <= x0 or y1 <= y0"
        else:
            layout, size_rule = "(cx, cy, w, h, angle)", "w <= 0 or h <= 0"
        fault = "not finite" if not bool(torch.isfinite(boxes[j]).all()) else f"empty ({size_rule})"
        raise ValueError(
            f"batched_inputs[{bad}]['instances'].gt_boxes[{j}] = {boxes[j].tolist()} {layout} is {fault}; "
            "drop such boxes before training (detectron2's DatasetMapper does, with filter_empty_instances)"
        )
    if num_classes is None:
        return
    bad = _first_true([((classes < 0) | (classes >= num_classes)).any() for _, classes in fields])
    if bad is not None:
        classes = fields[bad][1]
        j = int(((classes < 0) | (classes >= num_classes)).int().argmax())
        raise ValueError(
            f"batched_inputs[{bad}]['instances'].gt_classes[{j}] = {int(classes[j])} is outside [0, {num_classes}): "
            f"the model has {num_classes} classes (its NUM_CLASSES config value), numbered from 0"
        )


def _check_sem_seg(items: Sequence[dict[str, Any]], num_classes: int | None, ignore_value: int) -> None:
    """``sem_seg``: an integer (H, W) tensor the size of its image, labels in ``[0, num_classes)`` or ignored."""
    labels = []
    for i, item in enumerate(items):
        where = f"batched_inputs[{i}]['sem_seg']"
        if "sem_seg" not in item:
            raise KeyError(f"batched_inputs[{i}] has no 'sem_seg' key: training needs it in every input")
        sem_seg = item["sem_seg"]
        if not isinstance(sem_seg, torch.Tensor):
            raise TypeError(f"{where} must be a torch.Tensor, got {type(sem_seg).__name__}")
        if sem_seg.dtype.is_floating_point or sem_seg.dtype.is_complex or sem_seg.dtype == torch.bool:
            raise TypeError(f"{where} must have an integer dtype (int64), got {sem_seg.dtype}")
        expected = tuple(item["image"].shape[-2:])
        if tuple(sem_seg.shape) != expected:
            raise ValueError(
                f"{where} has shape {tuple(sem_seg.shape)}, but must be (H, W) = {expected}, the size of its 'image'"
            )
        labels.append(sem_seg)
    if num_classes is None or _symbolic():
        return
    faults = [((s != ignore_value) & ((s < 0) | (s >= num_classes))) for s in labels]
    bad = _first_true([fault.any() for fault in faults])
    if bad is not None:
        values = torch.unique(labels[bad][faults[bad]])[:10].tolist()
        raise ValueError(
            f"batched_inputs[{bad}]['sem_seg'] holds label(s) {values} outside [0, {num_classes}) that are not the "
            f"ignore value {ignore_value} (MODEL.SEM_SEG_HEAD.NUM_CLASSES / IGNORE_VALUE)"
        )


def check_batched_inputs(
    batched_inputs: Sequence[dict[str, Any]],
    num_channels: int,
    *,
    training: bool,
    needs_instances: bool = True,
    num_classes: int | None = None,
    sem_seg: tuple[int | None, int] | None = None,
) -> None:
    """Raise a ValueError/TypeError/KeyError naming the bad input's index, key and value.

    Each dict needs ``image``: a finite (C, H, W) tensor with C == ``num_channels``
    (len(MODEL.PIXEL_MEAN)); any real dtype (float64 is computed in the model's float32, like
    uint8). ``height``/``width`` are optional positive integers, numpy's included (default: the
    image's own size). In training, ``instances`` is required when ``needs_instances``: finite
    boxes of positive size (they may extend outside the image, as detectron2 allows) and
    int64 ``gt_classes`` in ``[0, num_classes)`` (when ``num_classes`` is given). For a model
    with a semantic head, ``sem_seg`` is ``(num_classes, ignore_value)`` of that head: each
    input's ``sem_seg`` (required in training, checked whenever present) is an integer (H, W)
    map with labels in ``[0, num_classes)`` or the ignore value.
    """
    if isinstance(batched_inputs, dict) or not isinstance(batched_inputs, Sequence):
        raise TypeError(f"a model takes a list[dict] (one dict per image), got {type(batched_inputs).__name__}")
    if len(batched_inputs) == 0:
        raise ValueError("a model takes a non-empty list[dict], got an empty list")
    images = []
    for index, item in enumerate(batched_inputs):
        if not isinstance(item, dict):
            raise TypeError(f"batched_inputs[{index}] must be a dict, got {type(item).__name__}")
        images.append(_check_image(item, index, num_channels))
        _check_size(item, "height", index)
        _check_size(item, "width", index)
        if training and needs_instances and "instances" not in item:
            raise KeyError(
                f"batched_inputs[{index}] has no 'instances' key: training needs ground truth (keys: {sorted(item)})"
            )
    if not _symbolic():
        _check_pixels(images)
    if training and needs_instances:
        _check_instances(batched_inputs, num_classes)
    if sem_seg is not None and (training or any("sem_seg" in item for item in batched_inputs)):
        _check_sem_seg(batched_inputs, *sem_seg)
