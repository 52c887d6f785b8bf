"""Box heads: per-region feature extractors run between the ROI pooler and the box predictor."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from modet.core.config import configurable
from modet.core.registry import Registry
from modet.ops import Conv2d, ShapeSpec, get_norm
from modet.ops.weight_init import c2_msra_fill, c2_xavier_fill

from ..backbone.backbone import required_size

__all__ = ["ROI_BOX_HEAD_REGISTRY", "FastRCNNConvFCHead", "build_box_head"]

ROI_BOX_HEAD_REGISTRY = Registry("roi_box_head", "ROI_BOX_HEAD")
ROI_BOX_HEAD_REGISTRY.__doc__ = """
Registry for box heads, which make box predictions from per-region features.
The registered object is called with ``obj(cfg, input_shape)``.
"""


class FastRCNNConvFCHead(nn.Sequential):
    """3x3 convs (each followed by norm and ReLU), then fully connected layers (each followed by ReLU).

    A ``nn.Sequential`` so the child names (``conv1``, ``fc1``…) equal detectron2's state_dict keys.
    """

    @configurable
    def __init__(
        self, input_shape: ShapeSpec, *, conv_dims: list[int], fc_dims: list[int], conv_norm: Any = ""
    ) -> None:
        """
        Args:
            input_shape: shape of the pooled region features.
            conv_dims: output channels of each conv layer.
            fc_dims: output size of each fully connected layer.
            conv_norm: normalization for the conv layers (see :func:`modet.ops.get_norm`).
        """
        super().__init__()
        if len(conv_dims) + len(fc_dims) == 0:
            raise ValueError("FastRCNNConvFCHead needs at least one conv or fc layer (conv_dims and fc_dims are empty)")

        self._output_size: int | tuple[int, int, int] = (
            required_size(input_shape.channels, "FastRCNNConvFCHead: input_shape.channels"),
            required_size(input_shape.height, "FastRCNNConvFCHead: input_shape.height"),
            required_size(input_shape.width, "FastRCNNConvFCHead: input_shape.width"),
        )

        self.conv_norm_relus: list[nn.Module] = []
        for k, conv_dim in enumerate(conv_dims):
            conv = Conv2d(
                self._output_size[0],
                conv_dim,
                kernel_size=3,
                padding=1,
                bias=not conv_norm,
                norm=get_norm(conv_norm, conv_dim),
                activation=nn.ReLU(),
                winograd=True,
            )
            self.add_module(f"conv{k + 1}", conv)
            self.conv_norm_relus.append(conv)
            self._output_size = (conv_dim, self._output_size[1], self._output_size[2])

        self.fcs: list[nn.Module] = []
        for k, fc_dim in enumerate(fc_dims):
            if k == 0:
                self.add_module("flatten", nn.Flatten())
            in_size = self._output_size if isinstance(self._output_size, int) else math.prod(self._output_size)
            fc = nn.Linear(in_size, fc_dim)
            self.add_module(f"fc{k + 1}", fc)
            self.add_module(f"fc_relu{k + 1}", nn.ReLU())
            self.fcs.append(fc)
            self._output_size = fc_dim

        for layer in self.conv_norm_relus:
            c2_msra_fill(layer)
        for layer in self.fcs:
            c2_xavier_fill(layer)

    @classmethod
    def from_config(cls, cfg: Any, input_shape: ShapeSpec) -> dict[str, Any]:
        head = cfg.MODEL.ROI_BOX_HEAD
        return {
            "input_shape": input_shape,
            "conv_dims": [head.CONV_DIM] * head.NUM_CONV,
            "fc_dims": [head.FC_DIM] * head.NUM_FC,
            "conv_norm": head.NORM,
        }

    @property
    def output_shape(self) -> ShapeSpec:
        """Shape of the features this head outputs."""
        o = self._output_size
        if isinstance(o, int):
            return ShapeSpec(channels=o)
        return ShapeSpec(channels=o[0], height=o[1], width=o[2])


def build_box_head(cfg: Any, input_shape: ShapeSpec) -> nn.Module:
    """Build the box head named by ``cfg.MODEL.ROI_BOX_HEAD.NAME``."""
    name = cfg.MODEL.ROI_BOX_HEAD.NAME
    return ROI_BOX_HEAD_REGISTRY.get(name)(cfg, input_shape)
