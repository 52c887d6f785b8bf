"""Atrous Spatial Pyramid Pooling (DeepLab v3), with detectron2's module layout."""

from __future__ import annotations

from collections.abc import Callable
from copy import deepcopy

import torch
from torch import nn
from torch.nn import functional as F

from .batch_norm import get_norm
from .blocks import DepthwiseSeparableConv2d
from .weight_init import c2_xavier_fill
from .wrappers import Conv2d

__all__ = ["ASPP"]


class ASPP(nn.Module):
    """A 1x1 conv, three dilated 3x3 convs and image pooling, concatenated and projected.

    Args:
        dilations: the three dilations of the 3x3 branches.
        norm: for every conv except the one after image pooling (see ``get_norm``); the
            convs have a bias only when ``norm`` is "".
        activation: applied after every conv (each branch gets its own copy).
        pool_kernel_size: (kh, kw) of the image-pooling average; None pools globally. When
            set, the input size must be divisible by it.
        dropout: dropout rate on the output.
        use_depthwise_separable_conv: dilated branches as depthwise-separable convs.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dilations: list[int],
        *,
        norm: str | Callable,
        activation: Callable,
        pool_kernel_size: tuple[int, int] | None = None,
        dropout: float = 0.0,
        use_depthwise_separable_conv: bool = False,
    ):
        super().__init__()
        if len(dilations) != 3:
            raise ValueError(f"ASPP expects 3 dilations, got {len(dilations)}")
        self.pool_kernel_size = pool_kernel_size
        self.dropout = dropout
        use_bias = norm == ""
        self.convs = nn.ModuleList()
        self.convs.append(
            Conv2d(
                in_channels,
                out_channels,
                kernel_size=1,
                bias=use_bias,
                norm=get_norm(norm, out_channels),
                activation=deepcopy(activation),
            )
        )
        c2_xavier_fill(self.convs[-1])
        for dilation in dilations:
            if use_depthwise_separable_conv:
                self.convs.append(
                    DepthwiseSeparableConv2d(
                        in_channels,
                        out_channels,
                        kernel_size=3,
                        padding=dilation,
                        dilation=dilation,
                        norm1=norm,
                        activation1=deepcopy(activation),
                        norm2=norm,
                        activation2=deepcopy(activation),
                    )
                )
            else:
                self.convs.append(
                    Conv2d(
                        in_channels,
                        out_channels,
                        kernel_size=3,
                        padding=dilation,
                        dilation=dilation,
                        bias=use_bias,
                        norm=get_norm(norm, out_channels),
                        activation=deepcopy(activation),
                    )
                )
                c2_xavier_fill(self.convs[-1])
        # No norm after image pooling: its output is 1x1 (the TF original has BatchNorm).
        pooling = nn.AdaptiveAvgPool2d(1) if pool_kernel_size is None else nn.AvgPool2d(pool_kernel_size, stride=1)
        image_pooling = nn.Sequential(
            pooling, Conv2d(in_channels, out_channels, 1, bias=True, activation=deepcopy(activation))
        )
        c2_xavier_fill(image_pooling[1])
        self.convs.append(image_pooling)
        self.project = Conv2d(
            5 * out_channels,
            out_channels,
            kernel_size=1,
            bias=use_bias,
            norm=get_norm(norm, out_channels),
            activation=deepcopy(activation),
        )
        c2_xavier_fill(self.project)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        if self.pool_kernel_size is not None and (
            size[0] % self.pool_kernel_size[0] or size[1] % self.pool_kernel_size[1]
        ):
            raise ValueError(
                f"ASPP: input size {tuple(size)} must be divisible by `pool_kernel_size` {self.pool_kernel_size}"
            )
        branches = [conv(x) for conv in self.convs]
        branches[-1] = F.interpolate(branches[-1], size=size, mode="bilinear", align_corners=False)
        out = self.project(torch.cat(branches, dim=1))
        return F.dropout(out, self.dropout, training=self.training) if self.dropout > 0 else out
