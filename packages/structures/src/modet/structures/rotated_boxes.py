"""Rotated boxes (xc, yc, w, h, angle) and their pairwise IoU."""

from __future__ import annotations

import math

import numpy as np
import torch

from .boxes import Boxes, _as_box_tensor
from .rotated_iou import pairwise_iou_rotated


class RotatedBoxes(Boxes):
    """A list of rotated boxes stored as an Nx5 float32 tensor of (x_center, y_center, width, height, angle).

    The angle is in degrees, counter-clockwise in image space (y pointing down): a positive angle
    rotates the horizontal box (xc, yc, w, h) counter-clockwise about its center. (X, Y, W, H, A)
    and (X, Y, W, H, A + 360k) are identical; the recommended range is [-180, 180).
    """

    def __init__(self, tensor: torch.Tensor | np.ndarray | list):
        self.tensor = _as_box_tensor(tensor, 5, "RotatedBoxes")

    def clone(self) -> RotatedBoxes:
        return RotatedBoxes(self.tensor.clone())

    def to(self, device: torch.device | str) -> RotatedBoxes:
        return RotatedBoxes(self.tensor.to(device=device))

    def area(self) -> torch.Tensor:
        """Area w * h of each box."""
        return self.tensor[:, 2] * self.tensor[:, 3]

    def normalize_angles(self) -> None:
        """Restrict angles to [-180, 180) degrees, in place."""
        self.tensor[:, 4] = (self.tensor[:, 4] + 180.0) % 360.0 - 180.0

    def clip(self, box_size: tuple[int, int], clip_angle_threshold: float = 1.0) -> None:
        """Clip in place the boxes that are nearly horizontal to (height, width) ``box_size``.

        Angles are normalised first; only boxes with |angle| <= ``clip_angle_threshold`` degrees
        are clipped, as horizontal boxes (there is no unique way to clip a rotated one; ops like
        ROIAlignRotated handle boxes reaching outside the image).
        """
        h, w = box_size
        self.normalize_angles()
        idx = torch.where(torch.abs(self.tensor[:, 4]) <= clip_angle_threshold)[0]

        x1 = self.tensor[idx, 0] - self.tensor[idx, 2] / 2.0
        y1 = self.tensor[idx, 1] - self.tensor[idx, 3] / 2.0
        x2 = self.tensor[idx, 0] + self.tensor[idx, 2] / 2.0
        y2 = self.tensor[idx, 1] + self.tensor[idx, 3] / 2.0
        x1.clamp_(min=0, max=w)
        y1.clamp_(min=0, max=h)
        x2.clamp_(min=0, max=w)
        y2.clamp_(min=0, max=h)

        self.tensor[idx, 0] = (x1 + x2) / 2.0
        self.tensor[idx, 1] = (y1 + y2) / 2.0
        # min() so widths and heights never grow through rounding
        self.tensor[idx, 2] = torch.min(self.tensor[idx, 2], x2 - x1)
        self.tensor[idx, 3] = torch.min(self.tensor[idx, 3], y2 - y1)

    def nonempty(self, threshold: float = 0.0) -> torch.Tensor:
        """Bool vector: True where width and height are both larger than ``threshold``."""
        return (self.tensor[:, 2] > threshold) & (self.tensor[:, 3] > threshold)

    def __getitem__(self, item: int | slice | torch.Tensor) -> RotatedBoxes:
        if isinstance(item, int):
            return RotatedBoxes(self.tensor[item].view(1, -1))
        b = self.tensor[item]
        if b.dim() != 2:
            raise IndexError(
                f"Indexing on RotatedBoxes with {item} failed to return a matrix (got shape {tuple(b.shape)})"
            )
        return RotatedBoxes(b)

    def __repr__(self) -> str:
        return "RotatedBoxes(" + str(self.tensor) + ")"

    def inside_box(self, box_size: tuple[int, int], boundary_threshold: float = 0) -> torch.Tensor:
        """Bool vector: True where the horizontal bounding rectangle lies inside (height, width) ``box_size``."""
        height, width = box_size
        cnt_x = self.tensor[..., 0]
        cnt_y = self.tensor[..., 1]
        half_w = self.tensor[..., 2] / 2.0
        half_h = self.tensor[..., 3] / 2.0
        a = self.tensor[..., 4]
        c = torch.abs(torch.cos(a * math.pi / 180.0))
        s = torch.abs(torch.sin(a * math.pi / 180.0))
        max_rect_dx = c * half_w + s * half_h
        max_rect_dy = c * half_h + s * half_w
        return (
            (cnt_x - max_rect_dx >= -boundary_threshold)
            & (cnt_y - max_rect_dy >= -boundary_threshold)
            & (cnt_x + max_rect_dx < width + boundary_threshold)
            & (cnt_y + max_rect_dy < height + boundary_threshold)
        )

    def get_centers(self) -> torch.Tensor:
        """Box centers as an Nx2 tensor of (x, y)."""
        return self.tensor[:, :2]

    def scale(self, scale_x: float, scale_y: float) -> None:
        """Scale in place; with scale_x != scale_y the box becomes the rectangle fitted to the sheared shape.

        The new width/height are the scaled lengths of the box's half-axes, and the new angle
        follows the scaled height vector, as in detectron2.
        """
        self.tensor[:, 0] *= scale_x
        self.tensor[:, 1] *= scale_y
        theta = self.tensor[:, 4] * math.pi / 180.0
        c = torch.cos(theta)
        s = torch.sin(theta)
        self.tensor[:, 2] *= torch.sqrt((scale_x * c) ** 2 + (scale_y * s) ** 2)
        self.tensor[:, 3] *= torch.sqrt((scale_x * s) ** 2 + (scale_y * c) ** 2)
        self.tensor[:, 4] = torch.atan2(scale_x * s, scale_y * c) * 180 / math.pi

    def __iter__(self):
        """Yield one box at a time as a tensor of shape (5,)."""
        yield from self.tensor


def pairwise_iou(boxes1: RotatedBoxes | torch.Tensor, boxes2: RotatedBoxes | torch.Tensor) -> torch.Tensor:
    """IoU of all N x M pairs of rotated boxes (exact polygon intersection); (N, M).

    Takes ``RotatedBoxes`` like detectron2, or raw (N, 5) tensors (what ``nms_rotated`` passes).
    """
    t1 = boxes1.tensor if isinstance(boxes1, Boxes) else boxes1
    t2 = boxes2.tensor if isinstance(boxes2, Boxes) else boxes2
    return pairwise_iou_rotated(t1, t2)
