"""Anchor generators: ``DefaultAnchorGenerator``, ``RotatedAnchorGenerator`` and ``build_anchor_generator``."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from modet.core.config import CfgNode, configurable
from modet.core.registry import Registry
from modet.ops import ShapeSpec, move_device_like
from modet.structures import Boxes, RotatedBoxes

__all__ = [
    "ANCHOR_GENERATOR_REGISTRY",
    "BufferList",
    "DefaultAnchorGenerator",
    "RotatedAnchorGenerator",
    "build_anchor_generator",
]

ANCHOR_GENERATOR_REGISTRY = Registry("anchor_generator", "ANCHOR_GENERATOR")


class BufferList(nn.Module):
    """A list of tensors that follow the module's device but stay out of its state_dict."""

    def __init__(self, buffers: Sequence[torch.Tensor]) -> None:
        super().__init__()
        for i, buffer in enumerate(buffers):
            # Non-persistent, as in detectron2: checkpoints do not carry cell anchors.
            self.register_buffer(str(i), buffer, persistent=False)

    def __len__(self) -> int:
        return len(self._buffers)

    def __iter__(self) -> Iterator[torch.Tensor]:
        return (buffer for buffer in self._buffers.values() if buffer is not None)  # all are set in __init__


def _create_grid_offsets(
    size: Sequence[int], stride: int, offset: float, target_device_tensor: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    grid_height, grid_width = size[0], size[1]  # no int(): symbolic sizes stay symbolic under torch.export
    shifts_x = move_device_like(
        torch.arange(offset * stride, grid_width * stride, step=stride, dtype=torch.float32), target_device_tensor
    )
    shifts_y = move_device_like(
        torch.arange(offset * stride, grid_height * stride, step=stride, dtype=torch.float32), target_device_tensor
    )
    shift_y, shift_x = torch.meshgrid(shifts_y, shifts_x, indexing="ij")
    return shift_x.reshape(-1), shift_y.reshape(-1)


def _broadcast_params(params: Any, num_features: int, name: str) -> list[Any]:
    """One list of ``name`` values per feature map: a flat list or a single inner list is repeated."""
    if not isinstance(params, Sequence) or isinstance(params, str):
        raise TypeError(f"anchor {name} must be a list of lists, got {params!r}")
    if not len(params):
        raise ValueError(f"anchor {name} cannot be empty")
    if not isinstance(params[0], Sequence):
        return [params] * num_features
    if len(params) == 1:
        return list(params) * num_features
    if len(params) != num_features:
        raise ValueError(
            f"got {name} of length {len(params)} for {num_features} feature maps; give one list per feature "
            "map or a single list for all"
        )
    return list(params)


class DefaultAnchorGenerator(nn.Module):
    """Anchors of several sizes and aspect ratios at each position of each feature map."""

    box_dim: int = 4

    @configurable
    def __init__(
        self,
        *,
        sizes: Sequence[Sequence[float]] | Sequence[float],
        aspect_ratios: Sequence[Sequence[float]] | Sequence[float],
        strides: Sequence[int],
        offset: float = 0.5,
    ) -> None:
        """``sizes[i]``/``aspect_ratios[i]`` (H/W) apply to the feature map of ``strides[i]``;
        ``offset`` places the first anchor's centre at ``offset * stride`` from the top-left corner."""
        super().__init__()
        self.strides = list(strides)
        self.num_features = len(self.strides)
        sizes = _broadcast_params(sizes, self.num_features, "sizes")
        aspect_ratios = _broadcast_params(aspect_ratios, self.num_features, "aspect_ratios")
        self.cell_anchors = BufferList([self.generate_cell_anchors(s, a).float() for s, a in zip(sizes, aspect_ratios)])
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"anchor offset must be in [0, 1), got {offset}")
        self.offset = offset

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: list[ShapeSpec]) -> dict[str, Any]:
        return {
            "sizes": cfg.MODEL.ANCHOR_GENERATOR.SIZES,
            "aspect_ratios": cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS,
            "strides": [x.stride for x in input_shape],
            "offset": cfg.MODEL.ANCHOR_GENERATOR.OFFSET,
        }

    @property
    def num_cell_anchors(self) -> list[int]:
        """Older name of :attr:`num_anchors`, kept as in detectron2."""
        return self.num_anchors

    @property
    def num_anchors(self) -> list[int]:
        """Anchors per spatial position, for each feature map."""
        return [len(cell_anchors) for cell_anchors in self.cell_anchors]

    def _grid_anchors(self, grid_sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        anchors = []
        for size, stride, base_anchors in zip(grid_sizes, self.strides, self.cell_anchors):
            shift_x, shift_y = _create_grid_offsets(size, stride, self.offset, base_anchors)
            shifts = torch.stack((shift_x, shift_y, shift_x, shift_y), dim=1)
            anchors.append((shifts.view(-1, 1, 4) + base_anchors.view(1, -1, 4)).reshape(-1, 4))
        return anchors

    def generate_cell_anchors(
        self,
        sizes: Sequence[float] = (32, 64, 128, 256, 512),
        aspect_ratios: Sequence[float] = (0.5, 1, 2),
    ) -> torch.Tensor:
        """(len(sizes) * len(aspect_ratios), 4) XYXY anchors centred on (0, 0), sizes outer, ratios inner."""
        anchors = []
        for size in sizes:
            area = size**2.0
            for aspect_ratio in aspect_ratios:
                # w * h = area and h / w = aspect_ratio
                w = math.sqrt(area / aspect_ratio)
                h = aspect_ratio * w
                anchors.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        return torch.tensor(anchors)

    def forward(self, features: list[torch.Tensor]) -> list[Boxes]:
        """Anchors of each feature map, (H * W * A, 4), ordered by position then cell anchor."""
        grid_sizes = [feature_map.shape[-2:] for feature_map in features]
        return [Boxes(x) for x in self._grid_anchors(grid_sizes)]


class RotatedAnchorGenerator(nn.Module):
    """Rotated anchors (x_ctr, y_ctr, w, h, angle) of several sizes, aspect ratios and angles at each
    position of each feature map, for the Rotated RPN (RRPN, "Arbitrary-Oriented Scene Text Detection
    via Rotation Proposals")."""

    box_dim: int = 5

    @configurable
    def __init__(
        self,
        *,
        sizes: Sequence[Sequence[float]] | Sequence[float],
        aspect_ratios: Sequence[Sequence[float]] | Sequence[float],
        strides: Sequence[int],
        angles: Sequence[Sequence[float]] | Sequence[float],
        offset: float = 0.5,
    ) -> None:
        """As :class:`DefaultAnchorGenerator`, plus ``angles[i]`` (degrees, counter-clockwise) for the
        feature map of ``strides[i]``; a flat list or a single inner list applies to every map."""
        super().__init__()
        self.strides = list(strides)
        self.num_features = len(self.strides)
        sizes = _broadcast_params(sizes, self.num_features, "sizes")
        aspect_ratios = _broadcast_params(aspect_ratios, self.num_features, "aspect_ratios")
        angles = _broadcast_params(angles, self.num_features, "angles")
        self.cell_anchors = BufferList(
            [self.generate_cell_anchors(s, a, t).float() for s, a, t in zip(sizes, aspect_ratios, angles)]
        )
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"anchor offset must be in [0, 1), got {offset}")
        self.offset = offset

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: list[ShapeSpec]) -> dict[str, Any]:
        return {
            "sizes": cfg.MODEL.ANCHOR_GENERATOR.SIZES,
            "aspect_ratios": cfg.MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS,
            "strides": [x.stride for x in input_shape],
            "offset": cfg.MODEL.ANCHOR_GENERATOR.OFFSET,
            "angles": cfg.MODEL.ANCHOR_GENERATOR.ANGLES,
        }

    @property
    def num_cell_anchors(self) -> list[int]:
        """Older name of :attr:`num_anchors`, kept as in detectron2."""
        return self.num_anchors

    @property
    def num_anchors(self) -> list[int]:
        """Anchors per spatial position (sizes x aspect ratios x angles), for each feature map."""
        return [len(cell_anchors) for cell_anchors in self.cell_anchors]

    def _grid_anchors(self, grid_sizes: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        anchors = []
        for size, stride, base_anchors in zip(grid_sizes, self.strides, self.cell_anchors):
            shift_x, shift_y = _create_grid_offsets(size, stride, self.offset, base_anchors)
            zeros = torch.zeros_like(shift_x)
            shifts = torch.stack((shift_x, shift_y, zeros, zeros, zeros), dim=1)
            anchors.append((shifts.view(-1, 1, 5) + base_anchors.view(1, -1, 5)).reshape(-1, 5))
        return anchors

    def generate_cell_anchors(
        self,
        sizes: Sequence[float] = (32, 64, 128, 256, 512),
        aspect_ratios: Sequence[float] = (0.5, 1, 2),
        angles: Sequence[float] = (-90, -60, -30, 0, 30, 60, 90),
    ) -> torch.Tensor:
        """(len(sizes) * len(aspect_ratios) * len(angles), 5) anchors (0, 0, w, h, angle): sizes outer,
        aspect ratios (H/W) in the middle, angles inner."""
        rows: list[list[float]] = []
        for size in sizes:
            area = size**2.0
            for aspect_ratio in aspect_ratios:
                w = math.sqrt(area / aspect_ratio)
                h = aspect_ratio * w
                rows.extend([0.0, 0.0, w, h, float(angle)] for angle in angles)
        return torch.tensor(rows).reshape(-1, 5)

    def forward(self, features: list[torch.Tensor]) -> list[RotatedBoxes]:
        """Anchors of each feature map, (H * W * A, 5), ordered by position then cell anchor."""
        grid_sizes = [feature_map.shape[-2:] for feature_map in features]
        return [RotatedBoxes(x) for x in self._grid_anchors(grid_sizes)]


def build_anchor_generator(cfg: CfgNode, input_shape: list[ShapeSpec]) -> nn.Module:
    """The anchor generator named by ``cfg.MODEL.ANCHOR_GENERATOR.NAME``."""
    return ANCHOR_GENERATOR_REGISTRY.get(cfg.MODEL.ANCHOR_GENERATOR.NAME)(cfg, input_shape)
