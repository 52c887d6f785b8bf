"""``ROIPooler``: pool boxes from the FPN level that matches their size (detectron2.modeling.poolers)."""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import torch
from torch import nn
from torchvision.ops import RoIPool

from .roi_align import ROIAlign
from .roi_align_rotated import ROIAlignRotated
from .wrappers import cat, nonzero_tuple

if TYPE_CHECKING:
    from modet.structures import Boxes, RotatedBoxes

__all__ = ["ROIPooler", "assign_boxes_to_levels", "convert_boxes_to_pooler_format"]

POOLER_TYPES = ("ROIAlign", "ROIAlignV2", "ROIPool", "ROIAlignRotated")


def assign_boxes_to_levels(
    box_lists: list[Boxes] | list[RotatedBoxes],
    min_level: int,
    max_level: int,
    canonical_box_size: int,
    canonical_level: int,
) -> torch.Tensor:
    """Feature level of every box, as an offset from ``min_level`` (int64, boxes of all images in order).

    Eqn. (1) of the FPN paper: level = floor(canonical_level + log2(sqrt(area) /
    canonical_box_size + eps)), clamped to [min_level, max_level].
    """
    eps = sys.float_info.epsilon
    box_sizes = torch.sqrt(cat([boxes.area() for boxes in box_lists]))
    level_assignments = torch.floor(canonical_level + torch.log2(box_sizes / canonical_box_size + eps))
    level_assignments = torch.clamp(level_assignments, min=min_level, max=max_level)
    return level_assignments.to(torch.int64) - min_level


def convert_boxes_to_pooler_format(box_lists: list[Boxes] | list[RotatedBoxes]) -> torch.Tensor:
    """Concatenate per-image boxes into the ROI ops' format, batch index first.

    Returns (M, 5) rows (batch_index, x0, y0, x1, y1) for ``Boxes``, or (M, 6) rows
    (batch_index, x_ctr, y_ctr, width, height, angle_degrees) for ``RotatedBoxes``.
    """
    # Batch indices from each image's row count, never read as a Python int (exportable).
    return cat(
        [torch.cat([torch.full_like(x.tensor[:, :1], index), x.tensor], dim=1) for index, x in enumerate(box_lists)],
        dim=0,
    )


class ROIPooler(nn.Module):
    """Pool regions from one or more feature maps (an FPN pyramid), each box from its own level.

    Args:
        output_size: (h, w) of each pooled region, or an int for a square.
        scales: 1 / stride of each feature map, e.g. [1/4, 1/8, 1/16, 1/32]; strides must be
            powers of 2 forming a pyramid with factor 2.
        sampling_ratio: the ROIAlign ``sampling_ratio`` (0: adaptive).
        pooler_type: "ROIAlign" (legacy, aligned=False), "ROIAlignV2" (aligned=True),
            "ROIPool" or "ROIAlignRotated".
        canonical_box_size: box size (sqrt of area) in pixels that maps to ``canonical_level``.
        canonical_level: level of a canonically sized box (4: stride 16, from the FPN paper).
    """

    def __init__(
        self,
        output_size: int | tuple[int, int] | list[int],
        scales: list[float] | tuple[float, ...],
        sampling_ratio: int,
        pooler_type: str,
        canonical_box_size: int = 224,
        canonical_level: int = 4,
    ):
        super().__init__()
        if isinstance(output_size, int):
            output_size = (output_size, output_size)
        if len(output_size) != 2 or not all(isinstance(s, int) for s in output_size):
            raise ValueError(f"ROIPooler: `output_size` must be an int or two ints, got {output_size!r}")
        self.output_size = tuple(output_size)
        if len(scales) == 0:
            raise ValueError("ROIPooler: `scales` must hold at least one scale")

        poolers: list[nn.Module]
        if pooler_type == "ROIAlign":
            poolers = [
                ROIAlign(output_size, spatial_scale=s, sampling_ratio=sampling_ratio, aligned=False) for s in scales
            ]
        elif pooler_type == "ROIAlignV2":
            poolers = [
                ROIAlign(output_size, spatial_scale=s, sampling_ratio=sampling_ratio, aligned=True) for s in scales
            ]
        elif pooler_type == "ROIPool":
            poolers = [RoIPool(output_size, spatial_scale=s) for s in scales]
        elif pooler_type == "ROIAlignRotated":
            poolers = [ROIAlignRotated(output_size, spatial_scale=s, sampling_ratio=sampling_ratio) for s in scales]
        else:
            raise ValueError(f"ROIPooler: unknown `pooler_type` {pooler_type!r}; expected one of {POOLER_TYPES}")
        self.level_poolers = nn.ModuleList(poolers)

        # Level of each scale (scale = 1 / 2**level).
        min_level = -math.log2(scales[0])
        max_level = -math.log2(scales[-1])
        if not (math.isclose(min_level, round(min_level)) and math.isclose(max_level, round(max_level))):
            raise ValueError(f"ROIPooler: feature map strides must be powers of 2, got scales {list(scales)}")
        self.min_level = round(min_level)
        self.max_level = round(max_level)
        if len(scales) != self.max_level - self.min_level + 1:
            raise ValueError(f"ROIPooler: `scales` {list(scales)} do not form a pyramid (factor 1/2 per level)")
        if not 0 <= self.min_level <= self.max_level:
            raise ValueError(f"ROIPooler: `scales` {list(scales)} must be <= 1 and decreasing")
        if canonical_box_size <= 0:
            raise ValueError(f"ROIPooler: `canonical_box_size` must be positive, got {canonical_box_size}")
        self.canonical_level = canonical_level
        self.canonical_box_size = canonical_box_size

    def forward(self, x: list[torch.Tensor], box_lists: list[Boxes] | list[RotatedBoxes]) -> torch.Tensor:
        """Pool every box of every image: (M, C, *output_size), boxes of all images in order.

        Args:
            x: one NCHW feature map per scale given at construction.
            box_lists: N ``Boxes`` (or ``RotatedBoxes``) in input-image coordinates, one per image.
        """
        num_levels = len(self.level_poolers)
        if not isinstance(x, list) or not isinstance(box_lists, list):
            raise TypeError(
                f"ROIPooler: `x` and `box_lists` must be lists, got {type(x).__name__} and {type(box_lists).__name__}"
            )
        if len(x) != num_levels:
            raise ValueError(f"ROIPooler: `x` has {len(x)} feature maps but the pooler has {num_levels} scales")
        if len(box_lists) != x[0].size(0):
            raise ValueError(
                f"ROIPooler: `box_lists` has {len(box_lists)} entries but x[0] has batch size {x[0].size(0)}"
            )
        if len(box_lists) == 0:
            return x[0].new_zeros((0, x[0].shape[1], *self.output_size))

        pooler_fmt_boxes = convert_boxes_to_pooler_format(box_lists)
        if num_levels == 1:
            return self.level_poolers[0](x[0], pooler_fmt_boxes)

        level_assignments = assign_boxes_to_levels(
            box_lists, self.min_level, self.max_level, self.canonical_box_size, self.canonical_level
        )
        output = x[0].new_zeros((pooler_fmt_boxes.shape[0], x[0].shape[1], *self.output_size))
        for level, pooler in enumerate(self.level_poolers):
            inds = nonzero_tuple(level_assignments == level)[0]
            # index_put_ rather than advanced-index assignment (pytorch/pytorch#49852).
            output.index_put_((inds,), pooler(x[level], pooler_fmt_boxes[inds]))
        return output
