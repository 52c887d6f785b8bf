"""A light ROI box head: a 1x1 channel reduction, depthwise-separable 3x3 convs, one FC.

On the standard 7x7x256 pooled features it has about 1/20 of the parameters of detectron2's
2-FC head (``FastRCNNConvFCHead`` with FC_DIM 1024), which makes it a fit for small, CPU-bound
detectors. It is a drop-in box head: ``StandardROIHeads`` feeds its ``output_shape`` to
``FastRCNNOutputLayers`` as for any built-in head.
"""

from __future__ import annotations

import torch
from torch import nn

from modet.core.config import CfgNode, configurable
from modet.ops import Conv2d, ShapeSpec, get_norm


def _init_conv(conv: nn.Conv2d) -> None:
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


class LightConvFCHead(nn.Module):
    """``reduce`` (1x1) -> ``num_conv`` x (depthwise 3x3 -> pointwise 1x1) -> flatten -> ``fc``."""

    @configurable
    def __init__(self, input_shape: ShapeSpec, *, conv_dim: int, num_conv: int, fc_dim: int, norm: str = "") -> None:
        super().__init__()
        if input_shape.channels is None or input_shape.height is None or input_shape.width is None:
            raise ValueError(f"LightConvFCHead needs channels, height and width in input_shape, got {input_shape}")
        if conv_dim <= 0 or fc_dim <= 0 or num_conv < 0:
            raise ValueError(
                f"LightConvFCHead needs CONV_DIM > 0, FC_DIM > 0 and NUM_CONV >= 0, "
                f"got {conv_dim}, {fc_dim}, {num_conv}"
            )
        use_bias = not norm
        self.reduce = Conv2d(
            input_shape.channels, conv_dim, 1, bias=use_bias, norm=get_norm(norm, conv_dim), activation=nn.ReLU()
        )
        blocks = []
        for _ in range(num_conv):
            depthwise = Conv2d(
                conv_dim, conv_dim, 3, padding=1, groups=conv_dim, bias=use_bias, norm=get_norm(norm, conv_dim)
            )
            pointwise = Conv2d(
                conv_dim, conv_dim, 1, bias=use_bias, norm=get_norm(norm, conv_dim), activation=nn.ReLU()
            )
            blocks += [depthwise, pointwise]
        self.convs = nn.Sequential(*blocks)
        self.fc = nn.Linear(conv_dim * input_shape.height * input_shape.width, fc_dim)
        for conv in [self.reduce, *blocks]:
            _init_conv(conv)
        nn.init.kaiming_uniform_(self.fc.weight, a=1)
        nn.init.zeros_(self.fc.bias)
        self._output_size = fc_dim

    @classmethod
    def from_config(cls, cfg: CfgNode, input_shape: ShapeSpec) -> dict:
        head_cfg = cfg.MODEL.ROI_LIGHT_HEAD
        return {
            "input_shape": input_shape,
            "conv_dim": head_cfg.CONV_DIM,
            "num_conv": head_cfg.NUM_CONV,
            "fc_dim": head_cfg.FC_DIM,
            "norm": head_cfg.NORM,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(self.reduce(x))
        return torch.relu(self.fc(torch.flatten(x, start_dim=1)))

    @property
    def output_shape(self) -> ShapeSpec:
        return ShapeSpec(channels=self._output_size)
