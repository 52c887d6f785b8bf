"""Bring model outputs back to the requested output resolution (``height``/``width`` of the input)."""

from __future__ import annotations

from typing import Any, cast

import torch
from torch.nn import functional as F

from modet.ops import is_exporting
from modet.structures import Instances, ROIMasks

__all__ = ["detector_postprocess", "sem_seg_postprocess"]


def detector_postprocess(
    results: Instances,
    output_height: int | torch.Tensor,
    output_width: int | torch.Tensor,
    mask_threshold: float = 0.5,
) -> Instances:
    """Rescale boxes (and keypoints) to (output_height, output_width), clip them, drop empty ones,
    and paste (N, 1, M, M) mask logits/probabilities into full-size boolean masks.

    ``results.image_size`` is the size the detector saw (after resizing), so the scale factors are
    ``output / image_size``.
    """
    # (height, width); a (2,) tensor while tracing, which Instances keeps as given.
    new_size: Any
    output_width_tmp: float | torch.Tensor
    output_height_tmp: float | torch.Tensor
    if isinstance(output_width, torch.Tensor):
        # Traced models keep sizes as tensors (both of them).
        output_height = cast(torch.Tensor, output_height)
        output_width_tmp = output_width.float()
        output_height_tmp = output_height.float()
        new_size = torch.stack([output_height, output_width])
    else:
        new_size = (output_height, output_width)
        output_width_tmp = output_width
        output_height_tmp = output_height
    scale_x = output_width_tmp / results.image_size[1]
    scale_y = output_height_tmp / results.image_size[0]
    results = Instances(new_size, **results.get_fields())

    if results.has("pred_boxes"):
        output_boxes = results.pred_boxes
    elif results.has("proposal_boxes"):
        output_boxes = results.proposal_boxes
    else:
        raise ValueError("detector_postprocess: predictions must contain pred_boxes or proposal_boxes")
    output_boxes.scale(scale_x, scale_y)
    output_boxes.clip(results.image_size)
    results = results[output_boxes.nonempty()]

    if results.has("pred_masks"):
        if isinstance(results.pred_masks, ROIMasks):
            roi_masks = results.pred_masks
        else:
            roi_masks = ROIMasks(results.pred_masks[:, 0, :, :])
        results.pred_masks = roi_masks.to_bitmasks(
            results.pred_boxes,
            output_height,  # type: ignore[arg-type]  # a 0-d tensor while tracing; pasting takes it too
            output_width,  # type: ignore[arg-type]
            mask_threshold,
        ).tensor

    if results.has("pred_keypoints"):
        results.pred_keypoints[:, :, 0] *= scale_x
        results.pred_keypoints[:, :, 1] *= scale_y
    return results


def sem_seg_postprocess(
    result: torch.Tensor, img_size: tuple[int, int], output_height: int, output_width: int
) -> torch.Tensor:
    """Crop (C, H, W) padded logits to ``img_size`` and resize bilinearly to the output size."""
    if is_exporting():
        # The same crop, by indices: torch.export cannot prove a symbolic size <= its padded size.
        rows = torch.arange(img_size[0], device=result.device)
        cols = torch.arange(img_size[1], device=result.device)
        result = result.index_select(1, rows).index_select(2, cols).expand(1, -1, -1, -1)
    else:
        result = result[:, : img_size[0], : img_size[1]].expand(1, -1, -1, -1)
    return F.interpolate(result, size=(output_height, output_width), mode="bilinear", align_corners=False)[0]
