"""Building blocks for CNN backbones: ``CNNBlockBase`` and ``DepthwiseSeparableConv2d``."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from .batch_norm import FrozenBatchNorm2d, get_norm
from .weight_init import c2_msra_fill
from .wrappers import Conv2d

__all__ = ["CNNBlockBase", "DepthwiseSeparableConv2d"]


class CNNBlockBase(nn.Module):
    """A CNN block taking an NCHW tensor with ``in_channels`` to one with ``out_channels``.

    ``stride`` is the total downsampling factor of the block; ``freeze()`` stops its training.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride

    def freeze(self) -> CNNBlockBase:
        """Make the block untrainable: no gradients, and every BatchNorm becomes a FrozenBatchNorm2d.

        Returns the block itself (converted in place).
        """
        for p in self.parameters():
            p.requires_grad = False
        FrozenBatchNorm2d.convert_frozen_batchnorm(self)
        return self


class DepthwiseSeparableConv2d(nn.Module):
    """A kxk depthwise convolution followed by a 1x1 pointwise one, each with optional norm/activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        padding: int = 1,
        dilation: int = 1,
        *,
        norm1: str | Callable | None = None,
        activation1: Callable | None = None,
        norm2: str | Callable | None = None,
        activation2: Callable | None = None,
    ):
        super().__init__()
        self.depthwise = Conv2d(
            in_channels,
            in_channels,
            kernel_size=kernel_size,
            padding=padding,
            dilation=dilation,
            groups=in_channels,
            bias=not norm1,
            norm=get_norm(norm1, in_channels),
            activation=activation1,
        )
        self.pointwise = Conv2d(
            in_channels,
            out_channels,
            kernel_size=1,
            bias=not norm2,
            norm=get_norm(norm2, out_channels),
            activation=activation2,
        )
        c2_msra_fill(self.depthwise)
        c2_msra_fill(self.pointwise)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))
