"""``Backbone``: the base class of every feature extractor ``build_backbone`` returns."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod

import torch
from torch import nn

from modet.ops import ShapeSpec

__all__ = ["Backbone"]


def required_size(value: int | None, what: str) -> int:
    """``value``, a ShapeSpec field (channels, stride...) a module is built from; an error naming
    ``what`` when the input ShapeSpec left it unset."""
    if value is None:
        raise ValueError(f"{what} is not set (None) in the input ShapeSpec")
    return value


class Backbone(nn.Module, metaclass=ABCMeta):
    """A network mapping an image batch (N, C, H, W) to named feature maps.

    Subclasses fill ``_out_features``, ``_out_feature_channels`` and ``_out_feature_strides``
    so that :meth:`output_shape` can describe their outputs to the heads built on top.
    """

    _out_features: list[str]
    _out_feature_channels: dict[str, int]
    _out_feature_strides: dict[str, int]

    @abstractmethod
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature name -> tensor."""

    @property
    def size_divisibility(self) -> int:
        """Input height and width must be divisible by this (0: no constraint)."""
        return 0

    @property
    def padding_constraints(self) -> dict[str, int]:
        """Extra padding rules for ``ImageList.from_tensors``: ``size_divisibility``, ``square_size``."""
        return {}

    def output_shape(self) -> dict[str, ShapeSpec]:
        """Channels and stride of each output feature, by name."""
        return {
            name: ShapeSpec(channels=self._out_feature_channels[name], stride=self._out_feature_strides[name])
            for name in self._out_features
        }
