"""Axis-aligned boxes: ``BoxMode`` conversions, the ``Boxes`` container and pairwise box metrics."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from enum import IntEnum, unique
from typing import Any, TypeVar, overload

import numpy as np
import torch

from .tracing import is_exporting

RawBoxType = list[float] | tuple[float, ...] | torch.Tensor | np.ndarray

_RELATIVE_MODES = (2, 3)

_BoxesT = TypeVar("_BoxesT", bound="Boxes")


@unique
class BoxMode(IntEnum):
    """Ways to represent a box; ``convert`` translates between the absolute ones."""

    XYXY_ABS = 0
    """(x0, y0, x1, y1) in absolute floating point coordinates."""
    XYWH_ABS = 1
    """(x0, y0, w, h) in absolute floating point coordinates."""
    XYXY_REL = 2
    """(x0, y0, x1, y1) relative to the image size; not supported by ``convert``."""
    XYWH_REL = 3
    """(x0, y0, w, h) relative to the image size; not supported by ``convert``."""
    XYWHA_ABS = 4
    """(xc, yc, w, h, a): center, size and counter-clockwise angle in degrees."""

    @overload
    @staticmethod
    def convert(box: torch.Tensor, from_mode: BoxMode, to_mode: BoxMode) -> torch.Tensor: ...
    @overload
    @staticmethod
    def convert(box: np.ndarray, from_mode: BoxMode, to_mode: BoxMode) -> np.ndarray: ...
    @overload
    @staticmethod
    def convert(box: list[float], from_mode: BoxMode, to_mode: BoxMode) -> list[float]: ...
    @overload
    @staticmethod
    def convert(box: tuple[float, ...], from_mode: BoxMode, to_mode: BoxMode) -> tuple[float, ...]: ...
    @staticmethod
    def convert(box: RawBoxType, from_mode: BoxMode, to_mode: BoxMode) -> RawBoxType:
        """Convert a k-list/k-tuple or an Nxk array/tensor (k = 4 or 5) between modes.

        Returns a value of the same type as ``box``; the input is never modified.
        """
        from_mode, to_mode = BoxMode(from_mode), BoxMode(to_mode)
        if from_mode == to_mode:
            return box

        original_type = type(box)
        is_numpy = isinstance(box, np.ndarray)
        single_box = isinstance(box, (list, tuple))
        if single_box:
            if len(box) not in (4, 5):
                raise ValueError(
                    "BoxMode.convert takes either a k-tuple/list or an Nxk array/tensor, where k == 4 or 5; "
                    f"got a {original_type.__name__} of length {len(box)}"
                )
            arr = torch.tensor(box)[None, :]
        elif is_numpy:
            arr = torch.from_numpy(np.asarray(box)).clone()
        elif isinstance(box, torch.Tensor):
            arr = box.clone()
        else:
            raise TypeError(f"BoxMode.convert: box must be a list, tuple, numpy array or tensor, got {original_type}")

        if arr.dim() != 2 or arr.shape[-1] not in (4, 5):
            raise ValueError(f"BoxMode.convert: box must have shape (N, 4) or (N, 5), got {tuple(arr.shape)}")
        if to_mode.value in _RELATIVE_MODES or from_mode.value in _RELATIVE_MODES:
            raise NotImplementedError(
                f"Relative box modes are not supported yet: cannot convert from {from_mode.name} to {to_mode.name}"
            )

        if from_mode == BoxMode.XYWHA_ABS and to_mode == BoxMode.XYXY_ABS:
            if arr.shape[-1] != 5:
                raise ValueError(f"The last dimension of input shape must be 5 for XYWHA format, got {arr.shape[-1]}")
            original_dtype = arr.dtype
            arr = arr.double()
            w, h, a = arr[:, 2], arr[:, 3], arr[:, 4]
            c = torch.abs(torch.cos(a * math.pi / 180.0))
            s = torch.abs(torch.sin(a * math.pi / 180.0))
            # The horizontal bounding rectangle of the rotated box.
            new_w = c * w + s * h
            new_h = c * h + s * w
            arr[:, 0] -= new_w / 2.0
            arr[:, 1] -= new_h / 2.0
            arr[:, 2] = arr[:, 0] + new_w
            arr[:, 3] = arr[:, 1] + new_h
            arr = arr[:, :4].to(dtype=original_dtype)
        elif from_mode == BoxMode.XYWH_ABS and to_mode == BoxMode.XYWHA_ABS:
            original_dtype = arr.dtype
            arr = arr.double()
            arr[:, 0] += arr[:, 2] / 2.0
            arr[:, 1] += arr[:, 3] / 2.0
            angles = torch.zeros((arr.shape[0], 1), dtype=arr.dtype, device=arr.device)
            arr = torch.cat((arr, angles), dim=1).to(dtype=original_dtype)
        elif to_mode == BoxMode.XYXY_ABS and from_mode == BoxMode.XYWH_ABS:
            arr[:, 2] += arr[:, 0]
            arr[:, 3] += arr[:, 1]
        elif from_mode == BoxMode.XYXY_ABS and to_mode == BoxMode.XYWH_ABS:
            arr[:, 2] -= arr[:, 0]
            arr[:, 3] -= arr[:, 1]
        else:
            raise NotImplementedError(f"Conversion from BoxMode {from_mode} to {to_mode} is not supported yet")

        if single_box:
            return original_type(arr.flatten().tolist())
        if is_numpy:
            return arr.numpy()
        return arr


def _as_box_tensor(tensor: Any, box_dim: int, class_name: str) -> torch.Tensor:
    """Convert ``tensor`` to a float32 (N, box_dim) tensor, keeping its device; reshape empty input."""
    device = tensor.device if isinstance(tensor, torch.Tensor) else torch.device("cpu")
    tensor = torch.as_tensor(tensor, dtype=torch.float32, device=device)
    if not (tensor.dim() == 2 and tensor.size(-1) == box_dim) and tensor.numel() == 0:
        # reshape (rather than a new tensor) keeps the result connected to the input
        tensor = tensor.reshape((0, box_dim)).to(dtype=torch.float32, device=device)
    if tensor.dim() != 2 or tensor.size(-1) != box_dim:
        raise ValueError(f"{class_name} expects a tensor of shape (N, {box_dim}), got shape {tuple(tensor.shape)}")
    return tensor


class Boxes:
    """A list of boxes stored as an Nx4 float32 tensor of (x1, y1, x2, y2).

    Behaves like a tensor: indexing, ``to(device)``, ``.device`` and iteration over boxes.
    """

    def __init__(self, tensor: torch.Tensor | np.ndarray | list):
        self.tensor = _as_box_tensor(tensor, 4, "Boxes")

    def clone(self) -> Boxes:
        return Boxes(self.tensor.clone())

    def to(self, device: torch.device | str) -> Boxes:
        # Boxes are float32 by design and do not support to(dtype).
        return Boxes(self.tensor.to(device=device))

    def area(self) -> torch.Tensor:
        """Area of each box (negative for boxes with x2 < x1 xor y2 < y1, as in detectron2)."""
        box = self.tensor
        return (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])

    def clip(self, box_size: tuple[int, int]) -> None:
        """Clip x to [0, width] and y to [0, height]; ``box_size`` is (height, width).

        ``self.tensor`` is replaced by the clipped tensor: the tensor the boxes were made from is
        left unchanged (as in detectron2), and autograd accepts it even when that tensor is one
        of several views (a ``split`` of per-image boxes)."""
        if not is_exporting() and not torch.isfinite(self.tensor).all():
            raise ValueError("Box tensor contains infinite or NaN!")
        h, w = box_size
        x1 = self.tensor[:, 0].clamp(min=0, max=w)
        y1 = self.tensor[:, 1].clamp(min=0, max=h)
        x2 = self.tensor[:, 2].clamp(min=0, max=w)
        y2 = self.tensor[:, 3].clamp(min=0, max=h)
        self.tensor = torch.stack((x1, y1, x2, y2), dim=-1)

    def nonempty(self, threshold: float = 0.0) -> torch.Tensor:
        """Bool vector: True where both sides of the box are larger than ``threshold``."""
        box = self.tensor
        widths = box[:, 2] - box[:, 0]
        heights = box[:, 3] - box[:, 1]
        return (widths > threshold) & (heights > threshold)

    def __getitem__(self, item: int | slice | torch.Tensor) -> Boxes:
        """Index by int (one box), slice, bool mask or index tensor; may share storage."""
        if isinstance(item, int):
            return Boxes(self.tensor[item].view(1, -1))
        b = self.tensor[item]
        if b.dim() != 2:
            raise IndexError(f"Indexing on Boxes with {item} failed to return a matrix (got shape {tuple(b.shape)})")
        return Boxes(b)

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __repr__(self) -> str:
        return "Boxes(" + str(self.tensor) + ")"

    def inside_box(self, box_size: tuple[int, int], boundary_threshold: float = 0) -> torch.Tensor:
        """Bool vector: True for boxes within (height, width) ``box_size`` up to ``boundary_threshold``."""
        height, width = box_size
        return (
            (self.tensor[..., 0] >= -boundary_threshold)
            & (self.tensor[..., 1] >= -boundary_threshold)
            & (self.tensor[..., 2] < width + boundary_threshold)
            & (self.tensor[..., 3] < height + boundary_threshold)
        )

    def get_centers(self) -> torch.Tensor:
        """Box centers as an Nx2 tensor of (x, y)."""
        return (self.tensor[:, :2] + self.tensor[:, 2:]) / 2

    def scale(self, scale_x: float, scale_y: float) -> None:
        """Scale in place by horizontal and vertical factors."""
        self.tensor[:, 0::2] *= scale_x
        self.tensor[:, 1::2] *= scale_y

    @classmethod
    def cat(cls: type[_BoxesT], boxes_list: Sequence[Boxes]) -> _BoxesT:
        """Concatenate Boxes into new storage; an empty list gives 0 boxes.

        ``boxes_list`` is a list or tuple whose elements are all of this class (else TypeError)."""
        if not isinstance(boxes_list, (list, tuple)):
            raise TypeError(f"{cls.__name__}.cat expects a list or tuple, got {type(boxes_list)}")
        if len(boxes_list) == 0:
            return cls(torch.empty(0))
        for i, box in enumerate(boxes_list):
            if not isinstance(box, cls):
                raise TypeError(f"{cls.__name__}.cat: element {i} is a {type(box).__name__}, not {cls.__name__}")
        return cls(torch.cat([b.tensor for b in boxes_list], dim=0))

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def __iter__(self) -> Iterator[torch.Tensor]:
        """Yield one box at a time as a tensor of shape (4,)."""
        yield from self.tensor


def pairwise_intersection(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """Intersection area of all N x M pairs of XYXY boxes."""
    b1, b2 = boxes1.tensor, boxes2.tensor
    # Width and height separately and in place: no (N, M, 2) temporary, same values as detectron2.
    width = torch.min(b1[:, None, 2], b2[:, 2]).sub_(torch.max(b1[:, None, 0], b2[:, 0])).clamp_(min=0)
    height = torch.min(b1[:, None, 3], b2[:, 3]).sub_(torch.max(b1[:, None, 1], b2[:, 1])).clamp_(min=0)
    return width.mul_(height)


_CACHE_BLOCK_ELEMENTS = 1 << 18  # per temporary: 1 MiB of float32 (measured best on a 2-core CPU)


def pairwise_iou(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """IoU of all N x M pairs of XYXY boxes; pairs with no intersection (incl. empty boxes) get 0."""
    b1, b2 = boxes1.tensor, boxes2.tensor
    area1 = boxes1.area()
    area2 = boxes2.area()
    if torch.is_grad_enabled() and (b1.requires_grad or b2.requires_grad):
        inter = pairwise_intersection(boxes1, boxes2)
        union = area1[:, None] + area2 - inter
        return torch.where(inter > 0, inter / union, torch.zeros(1, dtype=inter.dtype, device=inter.device))

    # Without autograd: the same arithmetic, a block of rows at a time, so the temporaries stay in
    # cache; on CPU an N x M IoU is bound by memory traffic (2x faster at 10k x 10k than whole-matrix ops).
    iou = torch.empty(len(b1), len(b2), dtype=torch.promote_types(b1.dtype, b2.dtype), device=b1.device)
    x1, y1, x2, y2 = b2.unbind(dim=1)
    rows = max(1, _CACHE_BLOCK_ELEMENTS // max(len(b2), 1))
    for start in range(0, len(b1), rows):
        block = b1[start : start + rows]
        inter = torch.min(block[:, None, 2], x2).sub_(torch.max(block[:, None, 0], x1)).clamp_(min=0)
        inter.mul_(torch.min(block[:, None, 3], y2).sub_(torch.max(block[:, None, 1], y1)).clamp_(min=0))
        union = torch.add(area1[start : start + rows, None], area2).sub_(inter)
        out = iou[start : start + rows]
        torch.div(inter, union, out=out)
        out.masked_fill_(inter.le(0), 0)
    return iou


def pairwise_ioa(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """Intersection over the area of ``boxes2`` for all N x M pairs; 0 where they do not intersect."""
    area2 = boxes2.area()
    inter = pairwise_intersection(boxes1, boxes2)
    return torch.where(inter > 0, inter / area2, torch.zeros(1, dtype=inter.dtype, device=inter.device))


def pairwise_point_box_distance(points: torch.Tensor, boxes: Boxes) -> torch.Tensor:
    """Distances (left, top, right, bottom) from N points (Nx2) to the 4 edges of M boxes: (N, M, 4).

    All four are positive when the point is inside the box.
    """
    if points.dim() != 2 or points.shape[-1] != 2:
        raise ValueError(f"pairwise_point_box_distance: points must have shape (N, 2), got {tuple(points.shape)}")
    x, y = points.unsqueeze(dim=2).unbind(dim=1)  # (N, 1) each
    x0, y0, x1, y1 = boxes.tensor.unsqueeze(dim=0).unbind(dim=2)  # (1, M) each
    return torch.stack([x - x0, y - y0, x1 - x, y1 - y], dim=2)


def matched_pairwise_iou(boxes1: Boxes, boxes2: Boxes) -> torch.Tensor:
    """IoU of the i-th box of ``boxes1`` with the i-th box of ``boxes2`` (the diagonal of ``pairwise_iou``).

    As in detectron2, two empty boxes give 0/0 = NaN.
    """
    if len(boxes1) != len(boxes2):
        raise ValueError(
            f"matched_pairwise_iou: boxlists should have the same number of entries, got {len(boxes1)}, {len(boxes2)}"
        )
    area1 = boxes1.area()
    area2 = boxes2.area()
    box1, box2 = boxes1.tensor, boxes2.tensor
    lt = torch.max(box1[:, :2], box2[:, :2])
    rb = torch.min(box1[:, 2:], box2[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    return inter / (area1 + area2 - inter)
